"""Independent reference for the schedulers' golden numbers (plain Python, float64).

Re-run with `python3 tests/reference/schedulers.py`; the Rust unit tests in
crates/diffusion/src/{ddpm,ddim,dpm_solver}.rs hold the numbers it prints. Where diffusers is
importable (not a dependency: `pip install diffusers torch` in a scratch venv), DPM-Solver++
is also checked against diffusers' own DPMSolverMultistepScheduler.
"""
import math

T = 1000
betas = [1e-4 + (0.02 - 1e-4) * i / (T - 1) for i in range(T)]
ac, acc = [], 1.0
for b in betas:
    acc *= 1 - b
    ac.append(acc)

def linspace_ts(n):
    last = T - 1
    return [round(last - last * i / (n - 1)) for i in range(n)] if n > 1 else [last]

def prev_ac(ts, i):
    return ac[ts[i + 1]] if i + 1 < len(ts) else 1.0

def ddpm_var(ts, i):
    a, ap = ac[ts[i]], prev_ac(ts, i)
    return max((1 - ap) / (1 - a) * (1 - a / ap), 1e-20)

def model(x):
    # A stand-in linear model: most of x_t is noise early, less later.
    return 0.98 * x - 0.01

def clip(v):
    return max(-1.0, min(1.0, v))

def ddpm_loop(n, x=0.5):
    ts = linspace_ts(n)
    for i, t in enumerate(ts):
        a, ap = ac[t], prev_ac(ts, i)
        eps = model(x)
        ca = a / ap
        x0 = clip((x - math.sqrt(1 - a) * eps) / math.sqrt(a))
        x = math.sqrt(ap) * (1 - ca) / (1 - a) * x0 + math.sqrt(ca) * (1 - ap) / (1 - a) * x
    return 4 * x  # a 2x2 image of equal pixels

def ddim_loop(n, x=0.5):
    ts = linspace_ts(n)
    for i, t in enumerate(ts):
        a, ap = ac[t], prev_ac(ts, i)
        eps = model(x)
        x0 = clip((x - math.sqrt(1 - a) * eps) / math.sqrt(a))
        e = (x - math.sqrt(a) * x0) / math.sqrt(1 - a)
        x = math.sqrt(ap) * x0 + math.sqrt(1 - ap) * e
    return 4 * x

def lam(ab):
    # log(alpha / sigma), the log signal-to-noise ratio DPM-Solver steps in
    return 0.5 * math.log(ab) - 0.5 * math.log(1 - ab)

def dpmpp_loop(n, x=0.5, clipped=True):
    """DPM-Solver++(2M), data prediction, midpoint, first order on the first and last step."""
    ts = linspace_ts(n)
    prev = None
    for i, t in enumerate(ts):
        a_s, a_t = ac[t], prev_ac(ts, i)
        eps = model(x)
        d0 = (x - math.sqrt(1 - a_s) * eps) / math.sqrt(a_s)
        if clipped:
            d0 = clip(d0)
        if a_t >= 1.0:
            new = d0
        else:
            h = lam(a_t) - lam(a_s)
            d = d0
            if prev is not None:
                r0 = (lam(a_s) - lam(ac[ts[i - 1]])) / h
                d = d0 + 0.5 * (d0 - prev) / r0
            new = math.sqrt(1 - a_t) / math.sqrt(1 - a_s) * x - math.sqrt(a_t) * math.expm1(-h) * d
        prev, x = d0, new
    return 4 * x

full = list(range(T - 1, -1, -1))
print("alpha_bar_T", ac[-1])
print("ddpm variance idx 0", ddpm_var(full, 0))
print("ddpm variance idx 500", ddpm_var(full, 500))
ts50 = linspace_ts(50)
a, ap = ac[ts50[0]], ac[ts50[1]]
print("ddim variance (50 steps) idx 0", (1 - ap) / (1 - a) * (1 - a / ap), "t", ts50[:2])
print("ddpm 10-step loop sum", ddpm_loop(10))
print("ddim 10-step loop sum", ddim_loop(10))
print("dpm++ 10-step loop sum", dpmpp_loop(10))

try:
    import torch
    from diffusers import DPMSolverMultistepScheduler
except ImportError:
    print("diffusers not importable: DPM-Solver++ not cross-checked")
else:
    for n in (10, 25):
        sch = DPMSolverMultistepScheduler(
            num_train_timesteps=T, beta_start=1e-4, beta_end=0.02, beta_schedule="linear",
            algorithm_type="dpmsolver++", solver_order=2, solver_type="midpoint",
            lower_order_final=True, timestep_spacing="linspace", final_sigmas_type="zero",
        )
        sch.set_timesteps(timesteps=linspace_ts(n))  # our spacing: ends on t = 0
        x = torch.full((1, 1, 2, 2), 0.5, dtype=torch.float64)
        for t in sch.timesteps:
            x = sch.step(model(x), t, x).prev_sample
        ours = dpmpp_loop(n, clipped=False)
        print(f"dpm++ {n} steps, no clipping: diffusers {float(x.sum()):.10f}, ours {ours:.10f}",
              "timesteps", [int(t) for t in sch.timesteps][:4], linspace_ts(n)[:4])
