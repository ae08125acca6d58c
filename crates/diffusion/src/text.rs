//! # Text-guided sampling
//!
//! The seed's recipe for classifier-free guidance with text (Q4 c), as Stable Diffusion's
//! pipeline runs it:
//!
//! ```text
//! text_embeddings = text_encoder(["", prompt])        # one batch, once per run
//! eps_u, eps_c   = unet([x_t, x_t], t, text_embeddings)
//! eps~           = eps_u + (1 + w) (eps_c - eps_u)   # = (1 + w) eps_c - w eps_u
//! ```
//!
//! The empty prompt is the unconditional embedding because training replaced 10 % of the
//! captions by `""`; a *negative prompt* simply takes the empty prompt's place, so guidance
//! pushes away from it. `w` is the same scale as the class-conditional model's (diffusers'
//! `guidance_scale = 1 + w`).
//!
//! [`TextDenoiseRun`] is [`crate::DenoiseRun`] for a [`TextUnet`]: the same
//! [`crate::Trajectory`] (schedulers, seeded host noise, step-at-a-time loop), plus the
//! cross-attention maps of each step for the page.
//! It runs in pixel or latent space alike; decoding a latent is the caller's business.

use burn::prelude::*;
use digitlab_captions::Tokens;
use digitlab_models::{TextStates, TextUnet};

use crate::DiffusionError;
use crate::pipeline::{Trajectory, check_run};
use crate::schedule::NoiseSchedule;
use crate::scheduler::{SamplerKind, StepOutput};

/// What to sample from a text model.
#[derive(Debug, Clone, PartialEq)]
pub struct TextRequest {
    /// One prompt per sample (the CLI repeats one; `digitlab eval` mixes many).
    pub prompts: Vec<Tokens>,
    /// The unconditional side of guidance: the empty prompt, or a negative prompt.
    pub negative: Tokens,
    /// Guidance scale `w >= 0` (diffusers' `guidance_scale = 1 + w`).
    pub guidance: f64,
    pub sampler: SamplerKind,
    pub steps: usize,
    pub seed: u64,
}

/// Token ids and pad masks of `prompts` as tensors, checked against the text encoder (a
/// tokenizer from another model would index outside its embedding table).
pub fn prompt_tensors(
    model: &TextUnet,
    prompts: &[&Tokens],
    device: &Device,
) -> Result<(Tensor<2, Int>, Tensor<2, Bool>), DiffusionError> {
    let encoder = model.text_encoder();
    let (vocab, len) = (encoder.vocab_size(), encoder.max_len());
    let mut ids = Vec::with_capacity(prompts.len() * len);
    let mut pad = Vec::with_capacity(prompts.len() * len);
    for tokens in prompts {
        if tokens.ids.len() != len || tokens.pad.len() != len {
            return Err(DiffusionError::BadPrompt(format!(
                "{} tokens where the text encoder reads {len}: tokenizer and weights do not match",
                tokens.ids.len()
            )));
        }
        if let Some(id) = tokens.ids.iter().find(|&&id| id as usize >= vocab) {
            return Err(DiffusionError::BadPrompt(format!(
                "token id {id} is outside the text encoder's vocabulary of {vocab}: tokenizer and weights do not match"
            )));
        }
        ids.extend(tokens.ids.iter().map(|&id| id as i64));
        pad.extend_from_slice(&tokens.pad);
    }
    let count = prompts.len();
    Ok((
        Tensor::from_data(TensorData::new(ids, [count, len]), device),
        Tensor::from_data(TensorData::new(pad, [count, len]), device),
    ))
}

/// Guided noise prediction. `text` holds the conditional rows, then (when `guidance > 0`) as
/// many unconditional rows; returns the guided noise and the conditional rows' attention maps.
pub fn guided_text_noise(
    model: &TextUnet,
    x: Tensor<4>,
    t: Tensor<1>,
    text: &TextStates,
    guidance: f64,
) -> (Tensor<4>, Option<Tensor<4>>) {
    if guidance == 0.0 {
        let out = model.forward_with_attention(x, t, text);
        return (out.noise, out.attention);
    }
    let [batch, _, _, _] = x.dims();
    let out = model.forward_with_attention(
        Tensor::cat(vec![x.clone(), x], 0),
        Tensor::cat(vec![t.clone(), t], 0),
        text,
    );
    let mut halves = out.noise.chunk(2, 0);
    let eps_uncond = halves.pop().expect("two halves");
    let eps_cond = halves.pop().expect("two halves");
    let attention = out.attention.map(|a| a.narrow(0, 0, batch));
    (
        eps_cond * (1.0 + guidance) - eps_uncond * guidance,
        attention,
    )
}

/// One step's outputs.
pub struct TextStep {
    pub output: StepOutput,
    /// `[count, max_len, side, side]`: where each token of each sample's prompt acted at this
    /// step (cross-attention models only).
    pub attention: Option<Tensor<4>>,
}

/// The state of one text-guided sampling run.
pub struct TextDenoiseRun {
    trajectory: Trajectory,
    text: TextStates,
    guidance: f64,
}

impl TextDenoiseRun {
    /// Checks `request`, encodes the prompts once, and draws `x_T ~ N(0, I)`.
    pub fn new(
        model: &TextUnet,
        schedule: NoiseSchedule,
        request: &TextRequest,
        device: &Device,
    ) -> Result<Self, DiffusionError> {
        let count = request.prompts.len();
        let guidance = request.guidance;
        check_run(count, guidance)?;
        let mut rows: Vec<&Tokens> = request.prompts.iter().collect();
        if guidance > 0.0 {
            rows.extend(std::iter::repeat_n(&request.negative, count));
        }
        let (ids, pad) = prompt_tensors(model, &rows, device)?;
        let text = model.encode_text(ids, pad);
        let trajectory = Trajectory::new(
            request.sampler,
            schedule,
            request.steps,
            request.seed,
            count,
            model.image_shape(),
            device,
        )?;
        Ok(Self {
            trajectory,
            text,
            guidance,
        })
    }

    /// Step count, current `x_t` (pixels, or the scaled latent) and the rest of the progress.
    pub fn trajectory(&self) -> &Trajectory {
        &self.trajectory
    }

    /// Takes one reverse step; `None` once the run is done.
    pub fn step(&mut self, model: &TextUnet) -> Option<TextStep> {
        let time = self.trajectory.next_time_input()?;
        let (eps, attention) = guided_text_noise(
            model,
            self.trajectory.sample().clone(),
            time,
            &self.text,
            self.guidance,
        );
        let output = self.trajectory.advance(eps);
        Some(TextStep { output, attention })
    }

    /// Runs to the end, calling `on_step(step_number, step)` after each step.
    pub fn run(
        &mut self,
        model: &TextUnet,
        mut on_step: impl FnMut(usize, &TextStep),
    ) -> Tensor<4> {
        while let Some(step) = self.step(model) {
            on_step(self.trajectory.completed_steps(), &step);
        }
        self.trajectory.sample().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NoiseSource;
    use crate::schedule::ScheduleConfig;
    use digitlab_models::{TextEncoderConfig, TextUnetConfig};

    fn tokens(ids: &[u32]) -> Tokens {
        let mut padded = ids.to_vec();
        padded.resize(6, 0);
        Tokens {
            pad: padded.iter().map(|&id| id == 0).collect(),
            ids: padded,
            tokens: vec![],
        }
    }

    fn setup() -> (TextUnet, NoiseSchedule, Device) {
        let device = Device::flex();
        device.seed(6);
        let model =
            TextUnetConfig::new(TextEncoderConfig::new(12).with_max_len(6).with_d_model(16))
                .with_n_feat(8)
                .init(&device);
        (
            model,
            NoiseSchedule::new(ScheduleConfig::default()).unwrap(),
            device,
        )
    }

    #[test]
    fn guidance_mixes_prompt_and_negative_predictions() {
        let (model, _, device) = setup();
        let x = NoiseSource::new(3, 1).tensor([1, 28, 28], &device);
        let t = Tensor::<1>::from_floats([0.4], &device);
        let encode = |p: &Tokens| {
            let (ids, pad) = prompt_tensors(&model, &[p], &device).unwrap();
            model.encode_text(ids, pad)
        };
        let (prompt, negative) = (tokens(&[2, 5, 7]), tokens(&[2, 9]));
        let cond = model.forward(x.clone(), t.clone(), &encode(&prompt));
        let uncond = model.forward(x.clone(), t.clone(), &encode(&negative));
        let both = encode(&prompt).cat(encode(&negative));
        let (got, maps) = guided_text_noise(&model, x, t, &both, 3.0);
        let err: f32 = (got - (cond * 4.0 - uncond * 3.0))
            .abs()
            .max()
            .into_scalar();
        assert!(err < 1e-4, "{err}");
        assert_eq!(maps.unwrap().dims(), [1, 6, 28, 28]);
    }

    #[test]
    fn runs_are_reproducible_and_refuse_mismatched_tokens() {
        let (model, schedule, device) = setup();
        let request = TextRequest {
            prompts: vec![tokens(&[2, 5]); 2],
            negative: tokens(&[2]),
            guidance: 2.0,
            sampler: SamplerKind::Ddim { eta: 0.0 },
            steps: 3,
            seed: 4,
        };
        let run = |r: &TextRequest| {
            let mut run = TextDenoiseRun::new(&model, schedule.clone(), r, &device).unwrap();
            let mut maps = 0;
            let out = run.run(&model, |_, s| maps += usize::from(s.attention.is_some()));
            assert_eq!(maps, 3);
            out.into_data().try_to_vec::<f32>().unwrap()
        };
        assert_eq!(run(&request), run(&request));
        let mut bad = request.clone();
        bad.prompts[1] = tokens(&[2, 40]);
        assert!(matches!(
            TextDenoiseRun::new(&model, schedule.clone(), &bad, &device),
            Err(DiffusionError::BadPrompt(_))
        ));
        let mut short = request.clone();
        short.negative.ids.pop();
        assert!(TextDenoiseRun::new(&model, schedule, &short, &device).is_err());
    }
}
