//! # `digitlab`
//!
//! The native half of DigitLab: import data, train the models with Burn, sample, evaluate and
//! benchmark them. Everything that touches files lives here; the model, diffusion and weights
//! crates only see bytes and tensors, so the page runs them unchanged.

mod backend;
mod bench;
mod cards;
mod commands;
mod compare;
mod files;
mod generators;
mod grid;
mod ncsn;
mod text;
mod train;

use clap::Parser;

fn main() {
    let cli = commands::Cli::parse();
    if let Err(err) = commands::run(cli) {
        eprintln!("error: {err:#}");
        std::process::exit(1);
    }
}
