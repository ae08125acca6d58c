//! # `digitlab duel` and `digitlab divergence`: the toys of the Divergences view, natively
//!
//! The same code as the page (`digitlab-toys`, `digitlab-divergence`), printed as a table or
//! as JSON.

use anyhow::{Result, bail};

use crate::args::{DivergenceArgs, DuelArgs};

pub fn duel(args: DuelArgs) -> Result<()> {
    use digitlab_toys::duel::{Duel, DuelConfig, Objective};
    if !(1..=100_000).contains(&args.iterations) {
        bail!("--iterations must be 1 to 100000, got {}", args.iterations);
    }
    let objective = Objective::parse(&args.objective).map_err(anyhow::Error::msg)?;
    let cfg = DuelConfig {
        theta0: args.theta0,
        theta_start: args.theta_start,
        eps: args.eps,
        lr_generator: args.lr_generator,
        lr_critic: args.lr_critic,
        critic_steps: args.critic_steps,
        clip: args.clip,
        gp_lambda: args.gp_lambda,
        seed: args.seed,
        ..DuelConfig::new(objective)
    };
    let mut duel = Duel::new(cfg.clone()).map_err(anyhow::Error::msg)?;
    let reports: Vec<_> = (0..args.iterations).map(|_| duel.step()).collect();
    if args.json {
        println!(
            "{}",
            serde_json::json!({ "config": cfg, "reports": reports })
        );
        return Ok(());
    }
    let value = if objective.is_wgan() {
        "critic's W estimate"
    } else {
        "discriminator BCE"
    };
    println!(
        "{:>9} {:>10} {:>12} {:>20}",
        "iteration", "theta", "dL/dtheta", value
    );
    let every = (reports.len() / 15).max(1);
    for r in reports
        .iter()
        .filter(|r| r.iteration % every == 0 || r.iteration == 1)
    {
        println!(
            "{:>9} {:>10.4} {:>12.3e} {:>20.4}",
            r.iteration, r.theta, r.grad_theta, r.critic_value
        );
    }
    Ok(())
}

pub fn divergence(args: DivergenceArgs) -> Result<()> {
    use digitlab_divergence::{disjoint, gaussian};
    let lo = args.theta_min.unwrap_or(args.theta0 - 3.0);
    let hi = args.theta_max.unwrap_or(args.theta0 + 3.0);
    if !(lo.is_finite() && hi.is_finite() && lo < hi) {
        bail!("--theta-min must be below --theta-max (got {lo} and {hi})");
    }
    if !(2..=100_000).contains(&args.points) {
        bail!("--points must be 2 to 100000, got {}", args.points);
    }
    let curve = gaussian::curves(args.theta0, args.eps, lo, hi, args.points)?;
    let disjoint: Vec<_> = curve
        .iter()
        .map(|p| disjoint::point(p.theta - args.theta0))
        .collect();
    if args.json {
        println!(
            "{}",
            serde_json::json!({ "theta0": args.theta0, "eps": args.eps, "gaussian": curve, "disjoint": disjoint })
        );
        return Ok(());
    }
    println!(
        "p_data = N({}, {}^2), p_g = N(theta, {}^2); natural logs",
        args.theta0, args.eps, args.eps
    );
    println!(
        "{:>9} {:>12} {:>10} {:>9} {:>12} {:>11}",
        "theta", "KL", "JS", "W1", "dKL/dtheta", "dJS/dtheta"
    );
    let every = (curve.len() / 12).max(1);
    for p in curve.iter().step_by(every) {
        println!(
            "{:>9.4} {:>12.4e} {:>10.6} {:>9.4} {:>12.4e} {:>11.4e}",
            p.theta, p.kl_g_data, p.js, p.w1, p.d_kl_g_data, p.d_js
        );
    }
    println!(
        "disjoint supports (0, Z) vs (theta, Z): KL = inf, JS = log 2 = 0.693147, W1 = |theta| for theta != 0"
    );
    Ok(())
}
