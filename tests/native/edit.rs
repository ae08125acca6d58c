//! `digitlab edit`, `inpaint` and `eval-edit` with the shipped DDPM, as a person runs them:
//! strength 0 gives the input back, strength 1 is `digitlab sample`'s digit from the same seed,
//! inpainting keeps every pixel outside the mask, and the evaluation's sketches come back as
//! their own class.

use std::path::Path;

use digitlab_data::{Dataset, Split};
use image::GrayImage;

use crate::support::{digitlab, imported, stderr};

/// Held-out digit `i` as a 28x28 PNG at `path`; returns its class.
fn held_out_png(i: usize, path: &Path) -> u8 {
    let test = Dataset::load(imported(), Split::Test).unwrap();
    GrayImage::from_raw(28, 28, test.image(i).to_vec())
        .unwrap()
        .save(path)
        .unwrap();
    test.labels[i]
}

fn grey(path: &Path) -> GrayImage {
    image::open(path).unwrap().to_luma8()
}

fn run(args: &[&str]) {
    let out = digitlab(args);
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
}

#[test]
fn strength_0_returns_the_input_and_strength_1_is_a_plain_sample() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).display().to_string();
    held_out_png(3, Path::new(&p("digit.png")));
    let edit = |strength: &str, out: &str| {
        run(&[
            "edit",
            "--input",
            &p("digit.png"),
            "--strength",
            strength,
            "--class",
            "3",
            "--steps",
            "10",
            "--seed",
            "4",
            "--out",
            &p(out),
        ])
    };
    edit("0", "same.png");
    assert_eq!(
        grey(Path::new(&p("same.png"))),
        grey(Path::new(&p("digit.png")))
    );
    edit("1", "fresh.png");
    run(&[
        "sample",
        "--class",
        "3",
        "--count",
        "1",
        "--steps",
        "10",
        "--seed",
        "4",
        "--out",
        &p("sample.png"),
    ]);
    // `sample` draws a grid: its one digit sits inside a 2-pixel gutter.
    let grid = grey(Path::new(&p("sample.png")));
    let fresh = grey(Path::new(&p("fresh.png")));
    assert_eq!(fresh.dimensions(), (28, 28));
    for (x, y, v) in fresh.enumerate_pixels() {
        assert_eq!(*v, *grid.get_pixel(x + 2, y + 2), "pixel {x},{y}");
    }
}

#[test]
fn inpainting_keeps_every_pixel_outside_the_mask() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).display().to_string();
    held_out_png(7, Path::new(&p("digit.png")));
    // White marks what the model redraws: the right half, given at 4x the model's size.
    GrayImage::from_fn(112, 112, |x, _| {
        image::Luma([if x >= 56 { 255 } else { 0 }])
    })
    .save(p("mask.png"))
    .unwrap();
    run(&[
        "inpaint",
        "--input",
        &p("digit.png"),
        "--mask",
        &p("mask.png"),
        "--class",
        "1",
        "--steps",
        "10",
        "--resample",
        "2",
        "--jump",
        "3",
        "--sampler",
        "ddpm",
        "--count",
        "4",
        "--out",
        &p("grid.png"),
    ]);
    let input = grey(Path::new(&p("digit.png")));
    let grid = grey(Path::new(&p("grid.png")));
    let mut changed_in_mask = 0;
    for k in 0..4u32 {
        let (gx, gy) = (2 + (k % 2) * 30, 2 + (k / 2) * 30);
        for (x, y, v) in input.enumerate_pixels() {
            let got = grid.get_pixel(gx + x, gy + y);
            if x < 14 {
                assert_eq!(got, v, "kept pixel {x},{y} of digit {k}");
            } else if got != v {
                changed_in_mask += 1;
            }
        }
    }
    assert!(
        changed_in_mask > 100,
        "the model redrew the right half: {changed_in_mask}"
    );
}

/// Sketches of held-out digits edited at strength 0.6 as their own class: recognised as it
/// (measured on 20 digits and 10 DDIM steps) and closer to the sketch than a fresh sample.
#[test]
fn eval_edit_recognises_edited_sketches() {
    let out = digitlab(&[
        "eval-edit",
        "sdedit",
        "--data",
        imported().to_str().unwrap(),
        "--samples",
        "20",
        "--strength",
        "0.6,1",
        "--steps",
        "10",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = v["sweep"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    let (edited, fresh) = (&rows[0], &rows[1]);
    assert_eq!(edited["strength"], 0.6);
    let acc = edited["accuracy"].as_f64().unwrap();
    assert!(acc >= 0.85, "{edited}");
    let (d_edit, d_fresh) = (
        edited["sketch_distance"].as_f64().unwrap(),
        fresh["sketch_distance"].as_f64().unwrap(),
    );
    assert!(d_edit < d_fresh, "edited {d_edit} against fresh {d_fresh}");
}
