#!/usr/bin/env python3
"""Python reference for the C++-vs-Python training-step benchmark.

Times one step of the reference DCGAN (966,978 trainable parameters) with the
canonical PyTorch DCGAN-example update: a discriminator step on a real and a
detached fake batch, then a generator step on D(fake) with target 1.

Run it with Debian's interpreter (/usr/bin/python3, python3-torch 1.13) so it
uses the same LibTorch and BLAS as the C++ programs. The last line printed is
`step_seconds=<median seconds per step>`, the format bench/step_vs_python.sh
parses; the line before it gives mean and min.
"""

import argparse
import statistics
import sys
import time

import torch
from torch import nn

LATENT = 64  # size of z
BATCH = 64  # images per step
BASE = 192  # channels of the generator's first 7x7 feature map
EXPECTED_PARAMS = 966_978  # G 828,161 + D 138,817; the C++ models must match


class Unflatten(nn.Module):
    """view(-1, BASE, 7, 7), kept as a module so G is one Sequential."""

    def forward(self, x):
        return x.view(-1, BASE, 7, 7)


def build_generator() -> nn.Module:
    return nn.Sequential(
        nn.Linear(LATENT, BASE * 7 * 7),
        nn.BatchNorm1d(BASE * 7 * 7),
        nn.ReLU(True),
        Unflatten(),
        nn.ConvTranspose2d(BASE, 64, 4, 2, 1),
        nn.BatchNorm2d(64),
        nn.ReLU(True),
        nn.ConvTranspose2d(64, 1, 4, 2, 1),
        nn.Tanh(),
    )


def build_discriminator() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 64, 4, 2, 1),
        nn.LeakyReLU(0.2, True),
        nn.Conv2d(64, 128, 4, 2, 1),
        nn.BatchNorm2d(128),
        nn.LeakyReLU(0.2, True),
        nn.Flatten(),
        nn.Linear(128 * 7 * 7, 1),
    )


def count_params(*modules: nn.Module) -> int:
    return sum(p.numel() for m in modules for p in m.parameters() if p.requires_grad)


def set_requires_grad(module: nn.Module, flag: bool) -> None:
    for p in module.parameters():
        p.requires_grad_(flag)


def make_step(batch_size: int = BATCH, freeze_d_in_g_step: bool = False):
    """Builds models, optimisers and data; returns a closure running one step."""
    g, d = build_generator(), build_discriminator()
    n = count_params(g, d)
    if n != EXPECTED_PARAMS:
        raise SystemExit(f"reference DCGAN has {n} parameters, expected {EXPECTED_PARAMS}")
    opt_g = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    criterion = nn.BCEWithLogitsLoss()
    # Fixed "real" batch in [-1, 1]: the benchmark measures compute, not data loading.
    real = torch.rand(batch_size, 1, 28, 28) * 2 - 1
    ones = torch.ones(batch_size, 1)
    zeros = torch.zeros(batch_size, 1)

    def step() -> None:
        z = torch.randn(batch_size, LATENT)
        fake = g(z)
        # Discriminator: real batch and detached fake batch, as in pytorch/examples dcgan.
        d.zero_grad()
        criterion(d(real), ones).backward()
        criterion(d(fake.detach()), zeros).backward()
        opt_d.step()
        # Generator: non-saturating loss, D(fake) labelled real.
        g.zero_grad()
        if freeze_d_in_g_step:
            # Skips D's weight gradients, which the G step would compute and discard.
            set_requires_grad(d, False)
        criterion(d(fake), ones).backward()
        if freeze_d_in_g_step:
            set_requires_grad(d, True)
        opt_g.step()

    return step


def time_steps(step, steps: int, warmup: int) -> list:
    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1)")
    parser.add_argument("--steps", type=int, default=30, help="timed steps (default 30)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first (default 5)")
    parser.add_argument("--batch-size", type=int, default=BATCH, help=f"default {BATCH}")
    parser.add_argument("--seed", type=int, default=0, help="torch.manual_seed (default 0)")
    parser.add_argument("--freeze-d-in-g-step", action="store_true",
                        help="set D's requires_grad=False during the G step")
    args = parser.parse_args()
    if args.threads < 1 or args.steps < 1 or args.warmup < 0:
        parser.error("--threads and --steps must be >= 1, --warmup >= 0")

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    step = make_step(args.batch_size, args.freeze_d_in_g_step)
    times = time_steps(step, args.steps, args.warmup)
    print(f"torch={torch.__version__} threads={torch.get_num_threads()} "
          f"batch={args.batch_size} steps={args.steps} warmup={args.warmup} "
          f"freeze_d_in_g_step={int(args.freeze_d_in_g_step)} params={EXPECTED_PARAMS}")
    print(f"mean_seconds={statistics.mean(times):.6f} min_seconds={min(times):.6f}")
    print(f"step_seconds={statistics.median(times):.6f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
