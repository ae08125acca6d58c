"""PyTorch twin of `digitlab bench train`, for the README's Burn-vs-PyTorch comparison.

The same ContextUnet as crates/models/src/context_unet.rs (GroupNorm with 8 groups, zero null
class, two EmbedFC per condition), the same random batch, loss and Adam step, timed the same
way: median of the timed steps after two warm-ups, synchronised on a GPU. It prints one JSON
line with the parameter count, so the two models can be checked to be the same size.

    python3 tests/reference/context_unet_bench.py --device cpu --batch-size 64 --n-feat 32 [--threads N]
"""

import argparse
import json
import math
import statistics
import time

import torch
from torch import nn
import torch.nn.functional as F


def groups(c):
    return 8 if c % 8 == 0 else 1


class ConvNormAct(nn.Sequential):
    def __init__(self, i, o):
        super().__init__(nn.Conv2d(i, o, 3, padding=1), nn.GroupNorm(groups(o), o), nn.GELU())


class ResidualConvBlock(nn.Module):
    def __init__(self, i, o, residual):
        super().__init__()
        self.conv1, self.conv2 = ConvNormAct(i, o), ConvNormAct(o, o)
        self.residual, self.same = residual, i == o

    def forward(self, x):
        x1 = self.conv1(x)
        x2 = self.conv2(x1)
        if not self.residual:
            return x2
        return ((x if self.same else x1) + x2) / math.sqrt(2)


class UnetDown(nn.Sequential):
    def __init__(self, i, o):
        super().__init__(ResidualConvBlock(i, o, False), ResidualConvBlock(o, o, False), nn.MaxPool2d(2))


class UnetUp(nn.Module):
    def __init__(self, i, o):
        super().__init__()
        self.up = nn.ConvTranspose2d(i, o, 2, 2)
        self.block1, self.block2 = ResidualConvBlock(o, o, False), ResidualConvBlock(o, o, False)

    def forward(self, x, skip):
        return self.block2(self.block1(self.up(torch.cat([x, skip], 1))))


class EmbedFC(nn.Module):
    def __init__(self, i, d):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(i, d), nn.Linear(d, d)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))[:, :, None, None]


class ContextUnet(nn.Module):
    def __init__(self, n=32, n_classes=10, size=28):
        super().__init__()
        self.n_classes = n_classes
        self.init_conv = ResidualConvBlock(1, n, True)
        self.down1, self.down2 = UnetDown(n, n), UnetDown(n, 2 * n)
        self.time1, self.time2 = EmbedFC(1, 2 * n), EmbedFC(1, n)
        self.ctx1, self.ctx2 = EmbedFC(n_classes, 2 * n), EmbedFC(n_classes, n)
        b = size // 4
        self.up0 = nn.ConvTranspose2d(2 * n, 2 * n, b, b)
        self.up0_norm = nn.GroupNorm(groups(2 * n), 2 * n)
        self.up1, self.up2 = UnetUp(4 * n, n), UnetUp(2 * n, n)
        self.out1 = nn.Conv2d(2 * n, n, 3, padding=1)
        self.out_norm = nn.GroupNorm(groups(n), n)
        self.out2 = nn.Conv2d(n, 1, 3, padding=1)

    def forward(self, x, t, labels):
        onehot = F.one_hot(labels, self.n_classes + 1).float()[:, : self.n_classes]
        t = t[:, None]
        x = self.init_conv(x)
        d1 = self.down1(x)
        d2 = self.down2(d1)
        hidden = F.gelu(d2.mean(dim=(2, 3), keepdim=True))
        u1 = F.relu(self.up0_norm(self.up0(hidden)))
        u2 = self.up1(self.ctx1(onehot) * u1 + self.time1(t), d2)
        u3 = self.up2(self.ctx2(onehot) * u2 + self.time2(t), d1)
        out = F.relu(self.out_norm(self.out1(torch.cat([u3, x], 1))))
        return self.out2(out)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--n-feat", type=int, default=32)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: PyTorch's default)")
    a = p.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    torch.manual_seed(0)
    model = ContextUnet(a.n_feat).to(dev)
    optim = torch.optim.Adam(model.parameters(), lr=1e-4)
    b = a.batch_size
    t = torch.full((b,), 0.5, device=dev)
    labels = (torch.arange(b, device=dev) % 11)
    times = []
    for i in range(a.steps + 2):
        x = torch.randn(b, 1, 28, 28, device=dev)
        eps = torch.randn(b, 1, 28, 28, device=dev)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        loss = F.mse_loss(model(x, t, labels), eps)
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        if i >= 2:
            times.append(time.perf_counter() - start)
    per_step = statistics.median(times)
    print(json.dumps({
        "framework": f"pytorch {torch.__version__}",
        "device": str(dev) if dev.type == "cpu" else torch.cuda.get_device_name(dev),
        "threads": torch.get_num_threads(),
        "images_per_s": b / per_step,
        "ms_per_step": per_step * 1e3,
        "n_feat": a.n_feat,
        "batch_size": b,
        "params": sum(q.numel() for q in model.parameters()),
    }))


if __name__ == "__main__":
    main()
