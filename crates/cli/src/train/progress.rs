//! # Progress and metrics log
//!
//! A progress bar with loss, images per second and ETA (indicatif) on a terminal, plain lines
//! otherwise; and `<run>/metrics.jsonl`, one JSON object per logged step, that the README and
//! the page plot.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};

use super::StepReport;

pub struct Progress {
    bar: ProgressBar,
    log: PathBuf,
    every: usize,
    plain: bool,
    window_loss: f64,
    window_images: usize,
    window_steps: usize,
    /// Sums of the named terms of the steps in the window.
    window_terms: Vec<(&'static str, f64)>,
    window_start: Instant,
    pub total_images_per_s: f64,
}

impl Progress {
    /// Starts at `start_step` of `total` steps; keeps log lines up to `start_step` (resume).
    pub fn new(run: &Path, start_step: usize, total: usize, every: usize) -> Result<Self> {
        std::fs::create_dir_all(run)
            .with_context(|| format!("creating the run folder {}", run.display()))?;
        let log = run.join("metrics.jsonl");
        // On resume, drop log lines past the checkpoint: the resumed run writes them again.
        if let Ok(text) = std::fs::read_to_string(&log) {
            let kept: String = text
                .lines()
                .filter(|l| {
                    serde_json::from_str::<serde_json::Value>(l)
                        .ok()
                        .and_then(|v| v["step"].as_u64())
                        .is_some_and(|s| s as usize <= start_step)
                })
                .map(|l| format!("{l}\n"))
                .collect();
            crate::files::write_atomic(&log, kept.as_bytes())?;
        }
        let bar = ProgressBar::new(total as u64).with_position(start_step as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "{bar:30.cyan/blue} {pos}/{len} steps | {msg} | ETA {eta}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        let plain = !std::io::stderr().is_terminal();
        if plain {
            bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
        }
        Ok(Self {
            bar,
            log,
            every: every.max(1),
            plain,
            window_loss: 0.0,
            window_images: 0,
            window_steps: 0,
            window_terms: Vec::new(),
            window_start: Instant::now(),
            total_images_per_s: 0.0,
        })
    }

    /// Records one finished step (1-based `step`): its loss and terms join the window's
    /// averages, and a line is logged every `every` steps, at the last step, and whenever
    /// `extra` carries a measurement (more than the epoch).
    pub fn step(
        &mut self,
        step: usize,
        report: &StepReport,
        extra: serde_json::Value,
    ) -> Result<()> {
        self.window_loss += report.loss;
        self.window_images += report.images;
        self.window_steps += 1;
        for &(name, value) in &report.terms {
            match self.window_terms.iter_mut().find(|(n, _)| *n == name) {
                Some((_, sum)) => *sum += value,
                None => self.window_terms.push((name, value)),
            }
        }
        let lr = report.lr;
        let secs = self.window_start.elapsed().as_secs_f64().max(1e-9);
        let ips = self.window_images as f64 / secs;
        let mean_loss = self.window_loss / self.window_steps as f64;
        self.bar.set_position(step as u64);
        self.bar.set_message(format!(
            "loss {mean_loss:.4} | {ips:.1} img/s | lr {lr:.2e}"
        ));
        let measured = extra.as_object().is_some_and(|o| o.len() > 1);
        if step.is_multiple_of(self.every)
            || step as u64 == self.bar.length().unwrap_or(0)
            || measured
        {
            let mut line = serde_json::json!({
                "step": step,
                "loss": mean_loss,
                "lr": lr,
                "images_per_s": ips,
            });
            if let Some(obj) = line.as_object_mut() {
                for (name, sum) in &self.window_terms {
                    obj.insert((*name).into(), (sum / self.window_steps as f64).into());
                }
                if let serde_json::Value::Object(more) = extra {
                    obj.extend(more);
                }
            }
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.log)
                .with_context(|| format!("opening {}", self.log.display()))?;
            writeln!(file, "{line}").with_context(|| format!("writing {}", self.log.display()))?;
            if self.plain {
                eprintln!(
                    "step {step}/{} | loss {mean_loss:.4} | {ips:.1} img/s | lr {lr:.2e}",
                    self.bar.length().unwrap_or(0),
                );
            }
            self.total_images_per_s = ips;
            self.window_loss = 0.0;
            self.window_images = 0;
            self.window_steps = 0;
            self.window_terms.clear();
            self.window_start = Instant::now();
        }
        Ok(())
    }

    pub fn println(&self, msg: impl AsRef<str>) {
        self.bar.println(msg.as_ref());
        if self.plain {
            eprintln!("{}", msg.as_ref());
        }
    }

    pub fn finish(&self) {
        self.bar.finish();
    }
}
