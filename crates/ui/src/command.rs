//! # The `digitlab` command behind a picture
//!
//! Under each picture the page shows the command line that draws the same picture natively
//! (same model, seed and settings; `digitlab sample` writes it to `samples.png`). Every value
//! is written out, defaults included, so the line still means the same if a default changes.
//! The browser tests run the line the page shows and compare the pixels.

use std::fmt::Display;

use crate::inputs::{LangevinParams, SampleParams, Sampler};

/// Where the page's shipped cards are, relative to the repository root (the CLI's default
/// model lives there too).
pub const SHIPPED: &str = "public/weights";

/// A command line: `digitlab`, a subcommand and its flags, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    args: Vec<String>,
}

impl Command {
    pub fn new(subcommand: &str) -> Self {
        Self {
            args: vec!["digitlab".into(), subcommand.into()],
        }
    }

    /// Appends `--name value`.
    pub fn flag(mut self, name: &str, value: impl Display) -> Self {
        self.args.push(format!("--{name}"));
        self.args.push(value.to_string());
        self
    }

    /// Appends a positional word (`sample ncsn`).
    pub fn word(mut self, word: &str) -> Self {
        self.args.push(word.into());
        self
    }

    /// The words, `digitlab` first, as a program receives them.
    pub fn args(&self) -> &[String] {
        &self.args
    }

    /// The line to paste into a POSIX shell: a word with anything but letters, digits and
    /// `-_./,:=+` goes in single quotes (a prompt such as `a thick 7`, a dropped file's name).
    pub fn to_shell(&self) -> String {
        self.args
            .iter()
            .map(|word| {
                let plain = !word.is_empty()
                    && word
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_./,:=+".contains(c));
                if plain {
                    word.clone()
                } else {
                    format!("'{}'", word.replace('\'', r"'\''"))
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The path the CLI reads a card from: the shipped ones under [`SHIPPED`], a dropped one by
/// its file name (it is on the visitor's disk, wherever they keep it).
pub fn card_path(card: &str, shipped: bool) -> String {
    if shipped {
        format!("{SHIPPED}/{card}")
    } else {
        card.to_string()
    }
}

fn class(class: Option<usize>) -> String {
    class.map_or("none".into(), |c| c.to_string())
}

fn sampler(command: Command, sampler: Sampler) -> Command {
    match sampler {
        Sampler::Ddpm => command.flag("sampler", "ddpm"),
        Sampler::Ddim => command.flag("sampler", "ddim").flag("eta", 0),
        Sampler::DpmPp => command.flag("sampler", "dpm++"),
    }
}

/// `digitlab sample` of a diffusion model's grid (the Sample view, live mode, the sweep's
/// pictures with their own `guidance`).
pub fn sample(card: &str, params: &SampleParams, guidance: f64) -> Command {
    diffusion_run(Command::new("sample").flag("model", card), params, guidance)
}

/// The settings every diffusion run names, after what its subcommand adds.
fn diffusion_run(command: Command, params: &SampleParams, guidance: f64) -> Command {
    let command = command
        .flag("class", class(params.class))
        .flag("guidance", guidance);
    sampler(command, params.sampler)
        .flag("steps", params.steps)
        .flag("count", params.count)
        .flag("seed", params.seed)
}

/// `digitlab edit`: SDEdit at `strength` of the digit saved as `input` (the Edit view's drawing,
/// which its Save button writes as `drawing.png`).
pub fn edit(card: &str, params: &SampleParams, input: &str, strength: f64) -> Command {
    let command = Command::new("edit")
        .flag("model", card)
        .flag("input", input)
        .flag("strength", strength);
    diffusion_run(command, params, params.guidance)
}

/// RePaint's resampling as the CLI takes it: `count` rounds every `jump` steps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Resampling {
    pub count: usize,
    pub jump: usize,
}

/// `digitlab inpaint`: the white pixels of `mask` filled in the digit saved as `input`; the
/// jump length is named only when there is resampling (it is unused otherwise).
pub fn inpaint(
    card: &str,
    params: &SampleParams,
    input: &str,
    mask: &str,
    resampling: Resampling,
) -> Command {
    let mut command = Command::new("inpaint")
        .flag("model", card)
        .flag("input", input)
        .flag("mask", mask)
        .flag("resample", resampling.count);
    if resampling.count > 1 {
        command = command.flag("jump", resampling.jump);
    }
    diffusion_run(command, params, params.guidance)
}

/// `digitlab sample ncsn`: annealed Langevin dynamics with the NCSN view's budget.
pub fn langevin(card: &str, params: &LangevinParams) -> Command {
    Command::new("sample")
        .word("ncsn")
        .flag("model", card)
        .flag("class", class(params.class))
        .flag("guidance", params.guidance)
        .flag("levels", params.levels)
        .flag("steps-per-level", params.per_level)
        .flag("step-size", params.step_size)
        .flag("sigma-max", params.sigma_max)
        .flag("count", params.count)
        .flag("seed", params.seed)
}

/// `digitlab sample` of a model that takes no settings but the number of digits and the seed
/// (a VAE, a GAN).
pub fn generator(card: &str, count: usize, seed: u64) -> Command {
    Command::new("sample")
        .flag("model", card)
        .flag("count", count)
        .flag("seed", seed)
}

/// A text model's prompt (and negative prompt, when there is one).
#[derive(Debug, Clone, PartialEq)]
pub struct TextSettings {
    pub prompt: String,
    pub negative: Option<String>,
    pub guidance: f64,
    pub sampler: Sampler,
    pub steps: usize,
    pub count: usize,
    pub seed: u64,
}

/// `digitlab sample --prompt` of a text model.
pub fn text(card: &str, settings: &TextSettings) -> Command {
    let mut command = Command::new("sample")
        .flag("model", card)
        .flag("prompt", &settings.prompt);
    if let Some(negative) = &settings.negative {
        command = command.flag("negative-prompt", negative);
    }
    command = command.flag("guidance", settings.guidance);
    sampler(command, settings.sampler)
        .flag("steps", settings.steps)
        .flag("count", settings.count)
        .flag("seed", settings.seed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> SampleParams {
        SampleParams {
            class: Some(7),
            guidance: 2.0,
            sampler: Sampler::Ddim,
            steps: 5,
            count: 4,
            seed: 5,
        }
    }

    #[test]
    fn a_sample_command_names_every_setting() {
        let line = sample(&card_path("ddpm-cfg.json", true), &params(), 2.0).to_shell();
        assert_eq!(
            line,
            "digitlab sample --model public/weights/ddpm-cfg.json --class 7 --guidance 2 \
             --sampler ddim --eta 0 --steps 5 --count 4 --seed 5"
        );
        let mut p = params();
        p.class = None;
        p.sampler = Sampler::DpmPp;
        let line = sample("mine.json", &p, 0.5).to_shell();
        assert!(
            line.contains("--class none --guidance 0.5 --sampler dpm++ --steps 5"),
            "{line}"
        );
        assert!(!line.contains("--eta"), "{line}");
    }

    #[test]
    fn edit_and_inpaint_commands_name_the_saved_files_and_every_setting() {
        let card = card_path("ddpm-cfg.json", true);
        assert_eq!(
            edit(&card, &params(), "drawing.png", 0.6).to_shell(),
            "digitlab edit --model public/weights/ddpm-cfg.json --input drawing.png --strength 0.6 \
             --class 7 --guidance 2 --sampler ddim --eta 0 --steps 5 --count 4 --seed 5"
        );
        let once = Resampling { count: 1, jump: 3 };
        let line = inpaint(&card, &params(), "drawing.png", "mask.png", once).to_shell();
        assert!(
            line.contains("--input drawing.png --mask mask.png --resample 1 --class 7"),
            "{line}"
        );
        assert!(!line.contains("--jump"), "no resampling, no jump: {line}");
        let twice = Resampling { count: 2, jump: 2 };
        let line = inpaint(&card, &params(), "drawing.png", "mask.png", twice).to_shell();
        assert!(line.contains("--resample 2 --jump 2 --class 7"), "{line}");
    }

    #[test]
    fn words_with_spaces_or_quotes_are_quoted_for_the_shell() {
        let settings = TextSettings {
            prompt: "a thick 7".into(),
            negative: Some("it's thin".into()),
            guidance: 3.0,
            sampler: Sampler::Ddpm,
            steps: 20,
            count: 2,
            seed: 1,
        };
        let command = text("my weights.json", &settings);
        assert_eq!(
            command.to_shell(),
            "digitlab sample --model 'my weights.json' --prompt 'a thick 7' \
             --negative-prompt 'it'\\''s thin' --guidance 3 --sampler ddpm --steps 20 --count 2 --seed 1"
        );
        // The words themselves stay unquoted, as a program receives them.
        assert_eq!(command.args()[5], "a thick 7");
    }

    #[test]
    fn langevin_and_generator_commands() {
        let p = LangevinParams {
            class: Some(3),
            sigma_max: 2.0,
            levels: 10,
            per_level: 5,
            step_size: 0.002,
            guidance: 1.0,
            count: 16,
            seed: 9,
        };
        assert_eq!(
            langevin("public/weights/ncsn.json", &p).to_shell(),
            "digitlab sample ncsn --model public/weights/ncsn.json --class 3 --guidance 1 \
             --levels 10 --steps-per-level 5 --step-size 0.002 --sigma-max 2 --count 16 --seed 9"
        );
        assert_eq!(
            generator("public/weights/vae.json", 16, 1).to_shell(),
            "digitlab sample --model public/weights/vae.json --count 16 --seed 1"
        );
    }
}
