//! # `digitlab`
//!
//! The native half of DigitLab: import data, train the models with Burn, sample, evaluate and
//! benchmark them. Everything that touches files lives here; the model, diffusion and weights
//! crates only see bytes and tensors, so the page runs them unchanged.
//!
//! The map, one stage per module: [`args`] (every option), [`datasets`] (`data ...`),
//! [`train`] (one skeleton, one trainer per family), [`families`] (`sample` and `eval`, one
//! module per family, chosen here by the card's kind; `edit` and `inpaint` in
//! `families::edit`), [`evaluate`] (the judging loop and
//! stored evaluations), [`toys`] (`duel`, `divergence`), [`compare`], [`bench`], and the
//! plumbing: [`cards`] (cards on disk), [`files`] (atomic writes), [`grid`] (PNG grids),
//! [`backend`] (devices).

mod args;
mod backend;
mod bench;
mod cards;
mod compare;
mod datasets;
mod evaluate;
mod families;
mod files;
mod grid;
mod toys;
mod train;

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::{CommandFactory, FromArgMatches};
use digitlab_weights::Kind;

use crate::args::{Cli, Command, EvalArgs, Family, Given, SampleArgs, WeightsCommand};
use crate::cards::CardFile;

fn main() {
    let matches = Cli::command().get_matches();
    let given = args::given(&matches);
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    if let Err(err) = run(cli.command, &given) {
        eprintln!("error: {err:#}");
        std::process::exit(1);
    }
}

fn run(command: Command, given: &Given) -> Result<()> {
    match command {
        Command::Data(c) => datasets::run(c),
        Command::Train(c) => train::train(c),
        Command::Sample(a) => sample(a, given),
        Command::Eval(a) => eval(a, given),
        Command::Edit(a) => families::edit::edit(&a),
        Command::Inpaint(a) => families::edit::inpaint(&a),
        Command::EvalEdit(a) => families::edit::eval(&a),
        Command::Divergence(a) => toys::divergence(a),
        Command::Duel(a) => toys::duel(a),
        Command::Compare(a) => compare::run(a),
        Command::Bench(c) => bench::run(c),
        Command::Weights(WeightsCommand::Half { cards }) => {
            for card in cards {
                let (before, after) = cards::to_half(&card)?;
                eprintln!("{}: {before} -> {after} bytes", card.display());
            }
            Ok(())
        }
    }
}

/// `digitlab sample`: the card's kind chooses the family.
fn sample(mut args: SampleArgs, given: &Given) -> Result<()> {
    if args.family == Some(Family::Ncsn) && !given.contains("model") {
        args.sampling.model = PathBuf::from("public/weights/ncsn.json");
    }
    let card = CardFile::read(&args.sampling.model)?;
    let kind = card.kind();
    match (args.family, kind) {
        (Some(Family::Ncsn), k) if k != Kind::Ncsn => bail!(
            "`sample ncsn` samples a score network, and {} is a `{k}` card: leave out `ncsn`, or give an `ncsn` card",
            card.path.display()
        ),
        (Some(Family::Ddpm), k) if k != Kind::DdpmCfg => bail!(
            "`sample ddpm` samples a diffusion model, and {} is a `{k}` card: leave out `ddpm`",
            card.path.display()
        ),
        _ => {}
    }
    families::check_options(kind, "sample", given)?;
    families::check_out(&args.out, &card)?;
    families::ddpm::student_defaults(&card, &mut args.sampling, given);
    let device = args.sampling.backend.device()?;
    match kind {
        Kind::DdpmCfg => families::ddpm::sample(&card, &args, &device),
        Kind::Ncsn => families::ncsn::sample(&card, &args, &device),
        Kind::Vae | Kind::Gan => families::generators::sample(&card, &args, &device),
        Kind::TextDdpm => families::text::sample(&card, &args, &device),
        Kind::Classifier | Kind::Autoencoder => bail!(
            "{} is a `{kind}` card, which does not generate digits: sample a diffusion model, a score network, a VAE, a GAN or a text model",
            card.path.display()
        ),
    }
}

/// `digitlab eval`: the card's kind chooses the family.
fn eval(mut args: EvalArgs, given: &Given) -> Result<()> {
    let card = CardFile::read(&args.sampling.model)?;
    let kind = card.kind();
    families::check_options(kind, "eval", given)?;
    families::ddpm::student_defaults(&card, &mut args.sampling, given);
    let device = args.sampling.backend.device()?;
    match kind {
        Kind::DdpmCfg => families::ddpm::eval(card, &args, &device),
        Kind::Ncsn => families::ncsn::eval(card, &args, &device),
        Kind::Vae | Kind::Gan => families::generators::eval(card, &args, &device),
        Kind::TextDdpm => families::text::eval(card, &args, &device),
        Kind::Classifier => families::judges::eval_classifier(&card, &args, &device),
        Kind::Autoencoder => families::judges::eval_autoencoder(&card, &args, &device),
    }
}
