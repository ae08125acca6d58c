//! `digitlab divergence` and `digitlab duel`: the Q2 curves and the GAN/WGAN duel, natively.

use crate::support::{digitlab, stderr};

fn curves(args: &[&str]) -> serde_json::Value {
    let mut all = vec!["divergence", "--json"];
    all.extend_from_slice(args);
    let out = digitlab(&all);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn small_eps_saturates_js_and_explodes_kl_while_w1_stays_the_distance() {
    let v = curves(&[
        "--theta0",
        "0",
        "--eps",
        "1e-4",
        "--theta-min",
        "-1",
        "--theta-max",
        "1",
        "--points",
        "3",
    ]);
    let far = &v["gaussian"][0]; // theta = -1
    assert_eq!(far["theta"], -1.0);
    assert_eq!(far["js"].as_f64().unwrap(), std::f64::consts::LN_2);
    assert_eq!(far["d_js"].as_f64().unwrap(), 0.0);
    assert!((far["kl_g_data"].as_f64().unwrap() - 5e7).abs() < 1.0);
    assert_eq!(far["w1"], 1.0);
    assert_eq!(far["d_w1"], -1.0);
    assert_eq!(v["disjoint"][0]["kl"], "inf");
    let mid = &v["gaussian"][1]; // theta = theta0
    assert_eq!(
        (mid["kl_g_data"].as_f64(), mid["js"].as_f64()),
        (Some(0.0), Some(0.0))
    );
    assert_eq!(v["disjoint"][1]["kl"], 0.0);
}

#[test]
fn bad_eps_is_refused_with_a_message() {
    let out = digitlab(&["divergence", "--eps", "0"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("eps must be a finite number > 0"),
        "{}",
        stderr(&out)
    );
}

fn duel(args: &[&str]) -> serde_json::Value {
    let mut all = vec!["duel", "--json"];
    all.extend_from_slice(args);
    let out = digitlab(&all);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn duel_prints_the_run_as_json_and_refuses_bad_settings() {
    let v = duel(&[
        "--objective",
        "wgan-lp",
        "--iterations",
        "20",
        "--seed",
        "3",
    ]);
    let reports = v["reports"].as_array().unwrap();
    assert_eq!(reports.len(), 20);
    assert_eq!(v["config"]["objective"], "wgan-lp");
    assert_eq!(v["config"]["seed"], 3);
    let theta = |i: usize| reports[i]["theta"].as_f64().unwrap();
    assert!(
        theta(19) < theta(0),
        "theta should move towards theta0 = 0: {reports:?}"
    );
    for (args, message) in [
        (
            &["duel", "--objective", "wgan"][..],
            "unknown objective `wgan`",
        ),
        (&["duel", "--eps", "-1"][..], "eps must be > 0"),
        (
            &["duel", "--iterations", "0"][..],
            "--iterations must be 1 to 100000",
        ),
    ] {
        let out = digitlab(args);
        assert!(!out.status.success());
        assert!(stderr(&out).contains(message), "{}", stderr(&out));
    }
}
