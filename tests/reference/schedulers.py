"""Independent reference for the schedulers' golden numbers (plain Python, float64).

Re-run with `python3 tests/reference/schedulers.py`; the Rust unit tests in
crates/diffusion/src/{ddpm,ddim}.rs hold the numbers it prints.
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

full = list(range(T - 1, -1, -1))
print("alpha_bar_T", ac[-1])
print("ddpm variance idx 0", ddpm_var(full, 0))
print("ddpm variance idx 500", ddpm_var(full, 500))
ts50 = linspace_ts(50)
a, ap = ac[ts50[0]], ac[ts50[1]]
print("ddim variance (50 steps) idx 0", (1 - ap) / (1 - a) * (1 - a / ap), "t", ts50[:2])
print("ddpm 10-step loop sum", ddpm_loop(10))
print("ddim 10-step loop sum", ddim_loop(10))
