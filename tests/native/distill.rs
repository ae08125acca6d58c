//! `digitlab train distill` end to end on a tiny teacher: the stages' cards and their chain of
//! sha256s, a round's loss falling, a round's student stepping closer to its teacher's two
//! steps than the teacher's own one step, sampling at the student's step count, resume across
//! a stage boundary to the same weights, and the teachers it refuses.

use std::path::Path;

use burn::prelude::*;
use digitlab_diffusion::{DenoiseRun, SampleRequest, SamplerKind};
use digitlab_weights::{Card, ModelSpec};

use crate::support::{digitlab, losses, small_dataset, stderr};

fn ok(out: std::process::Output, what: &str) -> String {
    assert!(out.status.success(), "{what} failed: {}", stderr(&out));
    stderr(&out)
}

fn card(path: &Path) -> Card {
    Card::from_json(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A ContextUnet of width 8 trained for 3 epochs of 64 digits: a teacher with some structure.
fn teacher(data: &Path, run: &Path) -> std::path::PathBuf {
    ok(
        digitlab(&[
            "train",
            "ddpm",
            "--n-feat",
            "8",
            "--data",
            data.to_str().unwrap(),
            "--run",
            run.to_str().unwrap(),
            "--epochs",
            "3",
            "--batch-size",
            "16",
            "--seed",
            "5",
        ]),
        "the teacher",
    );
    run.join("ddpm-cfg.json")
}

/// `digitlab train distill` of `teacher` on `data` into `run`, one round, with `more` options.
fn distill_with(teacher: &Path, data: &Path, run: &Path, more: &[&str]) -> std::process::Output {
    let mut args = vec![
        "train",
        "distill",
        "--teacher",
        teacher.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--run",
        run.to_str().unwrap(),
        "--rounds",
        "1",
    ];
    args.extend(more);
    digitlab(&args)
}

/// One guidance stage of 1 epoch and one round to 2 steps of `round_epochs` (4 steps an epoch).
fn distill(
    teacher: &Path,
    data: &Path,
    run: &Path,
    round_epochs: &str,
    extra: &[&str],
) -> std::process::Output {
    let mut args = vec![
        "--steps",
        "2",
        "--guidance-epochs",
        "1",
        "--round-epochs",
        round_epochs,
        "--batch-size",
        "16",
        "--lr",
        "1e-3",
        "--log-every",
        "1",
        "--checkpoint-every",
        "2",
        "--seed",
        "7",
    ];
    args.extend(extra);
    distill_with(teacher, data, run, &args)
}

/// Where `steps` of DDIM on the grid of `grid` steps take the same 8 noises (w = 2).
fn after(card_path: &Path, grid: usize, steps: usize) -> Tensor<4> {
    let device = Device::flex();
    let c = card(card_path);
    let bytes = std::fs::read(card_path.with_file_name(&c.weights)).unwrap();
    let (model, schedule) = c.load_ddpm(&bytes, &device).unwrap();
    let request = SampleRequest {
        labels: (0..8).map(|i| Some(i % 10)).collect(),
        guidance: 2.0,
        sampler: SamplerKind::Ddim { eta: 0.0 },
        steps: grid,
        seed: 21,
    };
    let mut run = DenoiseRun::new(&model, schedule, &request, &device).unwrap();
    for _ in 0..steps {
        run.step(&model).unwrap();
    }
    run.trajectory().sample().clone()
}

fn distance(a: &Tensor<4>, b: &Tensor<4>) -> f32 {
    (a.clone() - b.clone()).square().mean().into_scalar()
}

#[test]
fn a_tiny_teacher_distils_into_a_two_step_student() {
    let data = small_dataset(64);
    let d = data.path();
    let dir = tempfile::tempdir().unwrap();
    let teacher = teacher(d, &dir.path().join("teacher"));
    let run = dir.path().join("student");
    ok(distill(&teacher, d, &run, "40", &[]), "distill");

    // 1. the stages' cards, each naming its teacher and the DDPM the chain started from
    let guided_path = run.join("stages/ddpm-guided.json");
    let (guided, student) = (card(&guided_path), card(&run.join("ddpm-student.json")));
    let teacher_sha = card(&teacher).sha256;
    let chain = |c: &Card| match &c.model {
        ModelSpec::DdpmCfg {
            unet,
            distilled: Some(d),
            ..
        } => (
            unet.guidance_max,
            d.teacher_sha256.clone(),
            d.origin_sha256.clone(),
            d.steps,
        ),
        other => panic!("not a student: {other:?}"),
    };
    assert_eq!(
        chain(&guided),
        (Some(4.0), teacher_sha.clone(), teacher_sha.clone(), None)
    );
    assert_eq!(
        chain(&student),
        (Some(4.0), guided.sha256.clone(), teacher_sha, Some(2))
    );

    // 2. the round's loss falls (the first 10 steps of the round against its last 10)
    let all = losses(&run);
    assert_eq!(all.len(), 4 + 160);
    let round = &all[4..];
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (first, last) = (mean(&round[..10]), mean(&round[round.len() - 10..]));
    assert!(
        last < 0.9 * first,
        "the round's loss went from {first} to {last}"
    );

    // 3. the student's one step (999 -> 0) lands closer to its teacher's two steps
    //    (999 -> 500 -> 0) than the teacher's own one step does
    let target = after(&guided_path, 3, 2);
    let student_one = distance(&after(&run.join("ddpm-student.json"), 2, 1), &target);
    let teacher_one = distance(&after(&guided_path, 2, 1), &target);
    eprintln!(
        "the student's step lands {student_one} from the target, the teacher's {teacher_one}"
    );
    assert!(
        student_one < 0.8 * teacher_one,
        "student's step {student_one} against the teacher's own {teacher_one}"
    );

    // 4. `digitlab sample` takes the student's 2 steps by default, and refuses a w beyond its
    //    range
    let png = dir.path().join("s.png");
    let said = ok(
        digitlab(&[
            "sample",
            "--model",
            run.join("ddpm-student.json").to_str().unwrap(),
            "--class",
            "3",
            "--count",
            "4",
            "--out",
            png.to_str().unwrap(),
        ]),
        "sample",
    );
    assert!(said.contains("2 steps"), "{said}");
    let out = digitlab(&[
        "sample",
        "--model",
        run.join("ddpm-student.json").to_str().unwrap(),
        "--guidance",
        "6",
        "--out",
        png.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("[0, 4]"), "{}", stderr(&out));

    // 5. stopped inside the guidance stage and again at its end, then resumed: the same
    //    weights and the same stage card, bit for bit
    let straight = dir.path().join("straight");
    ok(distill(&teacher, d, &straight, "2", &[]), "straight");
    let split = dir.path().join("split");
    ok(
        distill(&teacher, d, &split, "2", &["--stop-after", "3"]),
        "split",
    );
    ok(
        distill(&teacher, d, &split, "2", &["--resume", "--stop-after", "1"]),
        "to the boundary",
    );
    assert!(split.join("stages/ddpm-guided.json").is_file());
    ok(distill(&teacher, d, &split, "2", &["--resume"]), "resumed");
    for f in ["ddpm-student.bpk", "stages/ddpm-guided.bpk"] {
        assert_eq!(
            digitlab_weights::record_tensors(&std::fs::read(straight.join(f)).unwrap()).unwrap(),
            digitlab_weights::record_tensors(&std::fs::read(split.join(f)).unwrap()).unwrap(),
            "{f}: resumed against uninterrupted"
        );
    }
    assert_eq!(
        chain(&card(&split.join("ddpm-student.json"))).1,
        card(&split.join("stages/ddpm-guided.json")).sha256
    );

    // 6. teachers it refuses: another kind, and a student continued to a step count its
    //    chain does not reach
    let elsewhere = dir.path().join("refused");
    let refused = |teacher: &Path, extra: &[&str], fragment: &str| {
        let out = distill_with(teacher, d, &elsewhere, extra);
        assert!(!out.status.success(), "accepted: {}", stderr(&out));
        assert!(
            stderr(&out).contains(fragment),
            "{fragment}: {}",
            stderr(&out)
        );
    };
    let classifier = crate::support::root().join("public/weights/classifier.json");
    refused(&classifier, &["--steps", "2"], "`classifier` card");
    refused(
        &run.join("ddpm-student.json"),
        &["--steps", "3"],
        "was distilled to 2 steps",
    );
    refused(
        &run.join("ddpm-student.json"),
        &["--guidance-max", "2"],
        "--guidance-max 4",
    );
}
