//! # `digitlab edit` and `digitlab inpaint`: a diffusion model finishes a digit
//!
//! Both read a PNG, make it the model's 28x28 grey digit and run `digitlab_diffusion`'s one
//! sampling run with an [`Edit`] on it: SDEdit from a sketch (`edit --strength`), RePaint
//! inpainting of the pixels a mask marks (`inpaint --mask`). The seeded noise, the guidance and
//! every scheduler are those of `digitlab sample`, so the same seed gives the same pixels.
//! `digitlab eval-edit` measures both on held-out digits (sketches made by
//! `digitlab_data::sketch`; lower halves redrawn) with the evaluation's one judging loop.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::prelude::*;
use digitlab_data::Split;
use digitlab_data::pixels::{bytes_to_unit, unit_to_bytes};
use digitlab_data::sketch::{sketch, sketch_seed};
use digitlab_diffusion::{DenoiseRun, Edit, NoiseSchedule, Resample, SampleRequest};
use digitlab_models::ContextUnet;
use digitlab_weights::Kind;
use image::imageops::FilterType;
use image::{GrayImage, ImageFormat, Rgba};

use super::{check_count, check_out, columns, parse_class};
use crate::args::{EditArgs, EditCommon, EditMode, EvalEditArgs, InpaintArgs};
use crate::cards::CardFile;
use crate::evaluate::{self, Reference, extend, print_json};
use crate::grid;

/// `digitlab edit`: SDEdit of `--input` at `--strength`.
pub fn edit(args: &EditArgs) -> Result<()> {
    let common = &args.common;
    let card = diffusion_card(common, "edit")?;
    let device = common.sampling.backend.device()?;
    let (model, schedule) = card.load_ddpm(&device)?;
    let input = read_digit(&common.input, model.image_shape(), true)?;
    run(
        &model,
        schedule,
        common,
        &Edit::sdedit(input, args.strength),
        &device,
    )
}

/// `digitlab inpaint`: the model redraws the pixels `--mask` marks white.
pub fn inpaint(args: &InpaintArgs) -> Result<()> {
    let common = &args.common;
    let card = diffusion_card(common, "inpaint")?;
    let device = common.sampling.backend.device()?;
    let (model, schedule) = card.load_ddpm(&device)?;
    let input = read_digit(&common.input, model.image_shape(), false)?;
    let fill = read_mask(&args.mask, model.image_shape())?;
    if !fill.iter().any(|&f| f) {
        bail!(
            "the mask {} marks no pixel to fill (white marks what the model redraws)",
            args.mask.display()
        );
    }
    let resample = Resample {
        jump: args.jump,
        count: args.resample,
    };
    let edit = Edit {
        strength: args.strength,
        ..Edit::inpaint(input, fill, resample)
    };
    run(&model, schedule, common, &edit, &device)
}

/// The card at `path`, which must be a class-conditional diffusion model for `command`.
fn ddpm_card(path: &Path, command: &str) -> Result<CardFile> {
    let card = CardFile::read(path)?;
    if card.kind() != Kind::DdpmCfg {
        bail!(
            "`{command}` needs a class-conditional diffusion model (a `ddpm-cfg` card), and {} is a `{}` card",
            card.path.display(),
            card.kind()
        );
    }
    Ok(card)
}

/// The card `--model` names, checked against the picture it will write.
fn diffusion_card(common: &EditCommon, command: &str) -> Result<CardFile> {
    let card = ddpm_card(&common.sampling.model, command)?;
    check_out(&common.out, &card)?;
    check_count(common.count)?;
    Ok(card)
}

fn run(
    model: &ContextUnet,
    schedule: NoiseSchedule,
    common: &EditCommon,
    edit: &Edit,
    device: &Device,
) -> Result<()> {
    let s = &common.sampling;
    let request = SampleRequest::uniform(
        parse_class(&common.class)?,
        common.count,
        common.guidance,
        s.kind(),
        s.steps,
        s.seed,
    );
    let mut run = DenoiseRun::edit(model, schedule, &request, edit, device)?;
    let total = run.trajectory().total_steps();
    let columns = columns(common.count);
    let started = Instant::now();
    let out = super::ddpm::run_with_frames(&mut run, model, common.frames.as_deref(), columns)?;
    let picture = if common.count == 1 {
        digit_image(&out)
    } else {
        grid::grid(&out, columns)
    };
    grid::save_png(&picture, &common.out)?;
    eprintln!(
        "wrote {} ({} digit{}, {total} steps, {:.2} s)",
        common.out.display(),
        common.count,
        if common.count == 1 { "" } else { "s" },
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Inpainting's other classes: a held-out digit of the first class, its lower half redrawn as
/// the second, where the kept upper half allows it (the 7 as a 1 and 3 as an 8, and a
/// 9 and a 4, whose upper halves can be each other's).
const OTHER_CLASS: &[(usize, usize)] = &[(7, 1), (3, 8), (9, 4), (4, 9)];

/// `digitlab eval-edit`: SDEdit of sketches at each strength, or inpainting of lower halves.
pub fn eval(args: &EvalEditArgs) -> Result<()> {
    let card = ddpm_card(&args.sampling.model, "eval-edit")?;
    let device = args.sampling.backend.device()?;
    let test = evaluate::digits(&args.data, Split::Test)?;
    if args.samples > test.len() {
        bail!(
            "--samples must be at most {} (the held-out digits of {})",
            test.len(),
            args.data.display()
        );
    }
    let (model, schedule) = card.load_ddpm(&device)?;
    let resample = Resample {
        jump: args.jump,
        count: args.resample,
    };
    // Every edit of the run checked by the runs' own check, before the reference digits are
    // judged (a blank digit stands in for the inputs).
    let [c, h, w] = model.image_shape();
    let edits: Vec<Edit> = match args.mode {
        EditMode::Sdedit => args
            .strength
            .iter()
            .map(|&strength| Edit::sdedit(vec![-1.0; c * h * w], strength))
            .collect(),
        EditMode::Inpaint => vec![Edit::inpaint(
            vec![-1.0; c * h * w],
            vec![true; h * w],
            resample,
        )],
    };
    for edit in &edits {
        edit.check(model.image_shape(), args.sampling.steps, 1)?;
    }
    let reference = Reference::new(&args.data, &args.classifier, args.samples, &device)?;
    let n = args.samples;
    let px = test.rows * test.cols;
    let s = &args.sampling;
    let classes: Vec<usize> = test.labels[..n].iter().map(|&c| c as usize).collect();
    let n_classes = model.null_class();
    // One batch of edits: digits `first..first + k` of `inputs` as `wanted` classes.
    let edit_batch =
        |inputs: &[f32], wanted: &[usize], b: usize, edit: Edit| -> Result<Tensor<4>> {
            let request = SampleRequest {
                labels: wanted.iter().map(|&c| Some(c)).collect(),
                guidance: args.guidance,
                sampler: s.kind(),
                steps: s.steps,
                seed: s.seed.wrapping_add(b as u64 * 7919),
            };
            let edit = Edit {
                input: inputs.to_vec(),
                ..edit
            };
            let mut run = DenoiseRun::edit(&model, schedule.clone(), &request, &edit, &device)?;
            Ok(run.run(&model, |_, _| {}))
        };
    let common = serde_json::json!({
        "guidance": args.guidance,
        "sampler": s.kind().name(),
        "steps": s.steps,
        "seed": s.seed,
    });
    let mut results = Vec::new();
    match args.mode {
        EditMode::Sdedit => {
            let sketches: Vec<f32> = (0..n)
                .flat_map(|i| {
                    let digit = &test.images[i * px..(i + 1) * px];
                    bytes_to_unit(&sketch(digit, test.rows, test.cols, sketch_seed(s.seed, i)))
                })
                .collect();
            for &strength in &args.strength {
                let mut distance = 0.0;
                let label = (!args.json).then(|| format!("strength {strength}"));
                let judged =
                    reference.judge_batches(n, args.batch, label.as_deref(), |b, first, k| {
                        let inputs = &sketches[first * px..(first + k) * px];
                        let out = edit_batch(
                            inputs,
                            &classes[first..first + k],
                            b,
                            Edit::sdedit(Vec::new(), strength),
                        )?;
                        distance += grey_distance(&out, inputs);
                        Ok(out)
                    })?;
                let mut result = judged.fields(&reference, Some(&classes), n_classes, s.backend);
                extend(&mut result, common.clone());
                extend(
                    &mut result,
                    serde_json::json!({
                        "mode": "sdedit",
                        "strength": strength,
                        "sketch_distance": distance / n as f64,
                    }),
                );
                if !args.json {
                    eprintln!(
                        "\rstrength {strength}: {} | distance to the sketch {:.3}",
                        judged.summary(&reference, Some(&classes)),
                        distance / n as f64
                    );
                }
                results.push(result);
            }
        }
        EditMode::Inpaint => {
            let inputs = bytes_to_unit(&test.images[..n * px]);
            let fill: Vec<bool> = (0..px).map(|i| i / test.cols >= test.rows / 2).collect();
            // As its own class, then the digits of OTHER_CLASS's first classes as the second.
            let own: Vec<(usize, usize)> = classes.iter().copied().enumerate().collect();
            let other: Vec<(usize, usize)> = own
                .iter()
                .filter_map(|&(i, c)| {
                    OTHER_CLASS
                        .iter()
                        .find(|(from, _)| *from == c)
                        .map(|&(_, to)| (i, to))
                })
                .collect();
            for (name, set) in [("own class", own), ("other class", other)] {
                if set.len() < 2 {
                    bail!("too few held-out digits to inpaint as the {name}: use more --samples");
                }
                let digits: Vec<f32> = set
                    .iter()
                    .flat_map(|&(i, _)| inputs[i * px..(i + 1) * px].to_vec())
                    .collect();
                let wanted: Vec<usize> = set.iter().map(|&(_, c)| c).collect();
                let mut kept_changed = 0usize;
                let label = (!args.json).then(|| format!("inpaint as the {name}"));
                let judged = reference.judge_batches(
                    set.len(),
                    args.batch,
                    label.as_deref(),
                    |b, first, k| {
                        let batch = &digits[first * px..(first + k) * px];
                        let out = edit_batch(
                            batch,
                            &wanted[first..first + k],
                            b,
                            Edit::inpaint(Vec::new(), fill.clone(), resample),
                        )?;
                        let values = out.clone().into_data().try_to_vec::<f32>().expect("f32");
                        kept_changed += values
                            .iter()
                            .zip(batch)
                            .enumerate()
                            .filter(|(j, (a, b))| !fill[j % px] && a != b)
                            .count();
                        Ok(out)
                    },
                )?;
                let mut result = judged.fields(&reference, Some(&wanted), n_classes, s.backend);
                extend(&mut result, common.clone());
                // Per pair of classes (none for the own-class run).
                let pairs: Vec<serde_json::Value> = OTHER_CLASS
                    .iter()
                    .filter_map(|&(from, to)| {
                        let idx: Vec<usize> = (0..set.len())
                            .filter(|&j| classes[set[j].0] == from && wanted[j] == to && from != to)
                            .collect();
                        (!idx.is_empty()).then(|| {
                            let hits = idx
                                .iter()
                                .filter(|&&j| judged.judgement.predicted[j] == to)
                                .count();
                            serde_json::json!({
                                "from": from, "to": to, "digits": idx.len(),
                                "accuracy": hits as f64 / idx.len() as f64,
                            })
                        })
                    })
                    .collect();
                extend(
                    &mut result,
                    serde_json::json!({
                        "mode": "inpaint",
                        "as": name,
                        "filled": "lower half",
                        "resample": args.resample,
                        "jump": args.jump,
                        "kept_pixels_changed": kept_changed,
                        "pairs": pairs,
                    }),
                );
                if !args.json {
                    eprintln!(
                        "\rinpainted as the {name}: {} | kept pixels changed: {kept_changed}",
                        judged.summary(&reference, Some(&wanted))
                    );
                }
                results.push(result);
            }
        }
    }
    if args.json {
        print_json(&results, true);
    }
    Ok(())
}

/// Sum over the digits of `out` of their mean absolute difference from `inputs`, in grey
/// levels of `[0, 1]` (half the difference in model space).
fn grey_distance(out: &Tensor<4>, inputs: &[f32]) -> f64 {
    let values = out
        .clone()
        .into_data()
        .try_to_vec::<f32>()
        .expect("f32 pixels");
    let per_digit = values.len() / out.dims()[0].max(1);
    values
        .chunks(per_digit)
        .zip(inputs.chunks(per_digit))
        .map(|(a, b)| {
            a.iter()
                .zip(b)
                .map(|(x, y)| ((x - y).abs() / 2.0) as f64)
                .sum::<f64>()
                / per_digit as f64
        })
        .sum()
}

/// One `[1, 1, h, w]` digit as an `h x w` picture, no gutter: the edited digit itself.
fn digit_image(x: &Tensor<4>) -> GrayImage {
    let [_, _, h, w] = x.dims();
    let values = x
        .clone()
        .into_data()
        .try_to_vec::<f32>()
        .expect("f32 pixels");
    GrayImage::from_raw(w as u32, h as u32, unit_to_bytes(&values[..h * w])).expect("h x w bytes")
}

/// A PNG as the model's `[c, h, w]` grey digit in `[-1, 1]`: flattened onto white where it is
/// transparent, scaled to `h x w`, and (with `invert`) turned white-on-black when its border is
/// light, as a sketch on paper is and a training digit is not.
fn read_digit(path: &Path, [c, h, w]: [usize; 3], invert: bool) -> Result<Vec<f32>> {
    if c != 1 {
        bail!("the model draws {c} channels; editing reads grey digits only");
    }
    let mut grey = read_grey(path, h, w)?;
    if invert && border_mean(&grey) > 127.0 {
        eprintln!(
            "{}: light background, inverted to the training digits' white on black",
            path.display()
        );
        image::imageops::invert(&mut grey);
    }
    Ok(bytes_to_unit(grey.as_raw()))
}

/// A mask PNG as one flag per pixel: `true` (the model fills) where it is white (>= 128).
fn read_mask(path: &Path, [_, h, w]: [usize; 3]) -> Result<Vec<bool>> {
    let grey = read_grey(path, h, w)?;
    Ok(grey.as_raw().iter().map(|&v| v >= 128).collect())
}

/// Any PNG, as `h x w` grey bytes (the `image` crate decodes and scales it).
fn read_grey(path: &Path, h: usize, w: usize) -> Result<GrayImage> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let picture = image::load_from_memory_with_format(&bytes, ImageFormat::Png)
        .with_context(|| format!("{} is not a PNG image that can be read", path.display()))?;
    // Transparent pixels count as white paper, so a drawing on a transparent canvas reads as
    // strokes on a light background.
    let mut rgba = picture.to_rgba8();
    for Rgba([r, g, b, a]) in rgba.pixels_mut() {
        let alpha = *a as f32 / 255.0;
        for v in [r, g, b] {
            *v = (*v as f32 * alpha + 255.0 * (1.0 - alpha)).round() as u8;
        }
        *a = 255;
    }
    let grey = image::DynamicImage::ImageRgba8(rgba).to_luma8();
    Ok(if grey.dimensions() == (w as u32, h as u32) {
        grey
    } else {
        image::imageops::resize(&grey, w as u32, h as u32, FilterType::Triangle)
    })
}

/// Mean brightness of the outermost pixels.
fn border_mean(grey: &GrayImage) -> f32 {
    let (w, h) = grey.dimensions();
    let border: Vec<f32> = grey
        .enumerate_pixels()
        .filter(|(x, y, _)| *x == 0 || *y == 0 || *x == w - 1 || *y == h - 1)
        .map(|(_, _, p)| p.0[0] as f32)
        .collect();
    border.iter().sum::<f32>() / border.len().max(1) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(path: &Path, img: &image::DynamicImage) {
        img.save_with_format(path, ImageFormat::Png).unwrap();
    }

    #[test]
    fn reads_any_png_as_a_white_on_black_digit() {
        let dir = tempfile::tempdir().unwrap();
        // A black stroke on white paper, 56x56: scaled down and inverted.
        let mut paper = GrayImage::from_pixel(56, 56, image::Luma([255]));
        for y in 10..46 {
            for x in 22..34 {
                paper.put_pixel(x, y, image::Luma([0]));
            }
        }
        let p = dir.path().join("sketch.png");
        png(&p, &image::DynamicImage::ImageLuma8(paper));
        let digit = read_digit(&p, [1, 28, 28], true).unwrap();
        assert_eq!(digit.len(), 28 * 28);
        assert_eq!(digit[0], -1.0, "the paper becomes the black background");
        assert!(digit[20 * 28 + 14] > 0.9, "the stroke becomes white");
        // Without inversion (inpainting's input is taken as it is).
        let plain = read_digit(&p, [1, 28, 28], false).unwrap();
        assert_eq!(plain[0], 1.0);
        // A transparent canvas counts as white paper.
        let clear = image::RgbaImage::from_pixel(28, 28, Rgba([0, 0, 0, 0]));
        let q = dir.path().join("clear.png");
        png(&q, &image::DynamicImage::ImageRgba8(clear));
        assert!(
            read_digit(&q, [1, 28, 28], true)
                .unwrap()
                .iter()
                .all(|&v| v == -1.0)
        );
        // Not a PNG: a clear error naming the file.
        let r = dir.path().join("not.png");
        std::fs::write(&r, b"GIF89a....").unwrap();
        let err = read_digit(&r, [1, 28, 28], true).unwrap_err().to_string();
        assert!(err.contains("not.png") && err.contains("PNG"), "{err}");
    }

    #[test]
    fn white_in_a_mask_marks_what_the_model_fills() {
        let dir = tempfile::tempdir().unwrap();
        let mask = GrayImage::from_fn(28, 28, |_, y| image::Luma([if y >= 14 { 255 } else { 0 }]));
        let p = dir.path().join("mask.png");
        png(&p, &image::DynamicImage::ImageLuma8(mask));
        let fill = read_mask(&p, [1, 28, 28]).unwrap();
        assert_eq!(fill.iter().filter(|&&f| f).count(), 28 * 14);
        assert!(fill[27 * 28] && !fill[0]);
    }
}
