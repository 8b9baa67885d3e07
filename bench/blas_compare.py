#!/usr/bin/env python3
"""Compares the system BLAS variants under Debian's LibTorch 1.13.

LibTorch links `libblas.so.3`, which Debian resolves through the alternatives
system. Each variant is loaded by starting a worker process with LD_LIBRARY_PATH
pointing at the variant's directory; the worker checks in /proc/self/maps that
this libblas is the one really loaded, then times
  (a) ConvTranspose2d(192->64, 4, 2, 1) forward+backward on 64x192x7x7, and
  (b) one step of the reference DCGAN (bench/dcgan_step.py),
at torch.set_num_threads(1) and (2). Workers run in interleaved rounds to spread
machine noise evenly; the table shows the median over rounds of each worker's
median time.

Usage: /usr/bin/python3 bench/blas_compare.py [--rounds 3] [--iters 20] [--steps 15]
           [--variants reference,openblas-openmp,openblas-pthread]
Timings at 2 threads collapse when other processes keep the cores busy (see the load1 column).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

LIB = "/usr/lib/x86_64-linux-gnu"
# name -> directories put on LD_LIBRARY_PATH (LAPACK kept from the same family).
VARIANTS = {
    "reference": [f"{LIB}/blas", f"{LIB}/lapack"],
    "openblas-openmp": [f"{LIB}/openblas-openmp"],
    "openblas-pthread": [f"{LIB}/openblas-pthread"],
}
HERE = os.path.dirname(os.path.abspath(__file__))


def loaded_libs() -> list:
    """Paths of mapped BLAS/LAPACK libraries of this process."""
    paths = set()
    with open("/proc/self/maps") as maps:
        for line in maps:
            path = line.split()[-1]
            if "blas" in path or "lapack" in path:
                paths.add(path)
    return sorted(paths)


def median_time(fn, iters: int, warmup: int, budget_s: float = 4.0) -> float:
    """Median of up to `iters` timings; stops after `budget_s` (but takes at least 3)
    so that the slow reference BLAS does not dominate the run time."""
    for _ in range(warmup):
        fn()
    times = []
    while len(times) < iters and (len(times) < 3 or sum(times) < budget_s):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def worker(variant: str, threads: int, iters: int, steps: int) -> None:
    import torch  # imported here: LD_LIBRARY_PATH must be in effect first

    sys.path.insert(0, HERE)
    import dcgan_step

    libs = loaded_libs()
    blas = [p for p in libs if "libblas" in os.path.basename(p)]
    expected_dir = VARIANTS[variant][0]
    if not blas or not all(p.startswith(expected_dir + "/") for p in blas):
        raise SystemExit(f"{variant}: expected libblas from {expected_dir}, loaded {blas}")

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    conv = torch.nn.ConvTranspose2d(192, 64, 4, 2, 1)
    x = torch.randn(64, 192, 7, 7, requires_grad=True)

    def conv_step():
        conv.zero_grad()
        x.grad = None
        conv(x).sum().backward()

    load = os.getloadavg()[0]  # other processes on the machine skew 2-thread timings most
    conv_s = median_time(conv_step, iters, 2)
    dcgan_s = median_time(dcgan_step.make_step(), steps, 2)
    print(json.dumps({"blas": blas, "libs": libs, "conv": conv_s, "dcgan": dcgan_s, "load": load}))


def run_worker(variant: str, threads: int, args) -> dict:
    env = dict(os.environ)
    env["LD_LIBRARY_PATH"] = ":".join(VARIANTS[variant])
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env.pop(var, None)  # each library's default thread count is part of what we measure
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", variant, "--threads",
           str(threads), "--iters", str(args.iters), "--steps", str(args.steps)]
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--iters", type=int, default=20, help="timed ConvTranspose2d iterations")
    parser.add_argument("--steps", type=int, default=15, help="timed DCGAN steps")
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help="comma-separated subset of: " + ", ".join(VARIANTS))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.threads, args.iters, args.steps)
        return 0

    wanted = args.variants.split(",")
    unknown = set(wanted) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown variants: {', '.join(sorted(unknown))}")
    variants = [v for v in wanted if os.path.exists(f"{VARIANTS[v][0]}/libblas.so.3")]
    missing = sorted(set(wanted) - set(variants))
    if missing:
        print(f"skipping (not installed): {', '.join(missing)}", file=sys.stderr)
    results = {}  # (variant, threads) -> list of worker results
    for r in range(args.rounds):
        for threads in (1, 2):
            for variant in variants:
                res = run_worker(variant, threads, args)
                results.setdefault((variant, threads), []).append(res)
                print(f"round {r + 1}/{args.rounds} {variant:17s} threads={threads} "
                      f"conv={res['conv'] * 1e3:7.2f} ms dcgan={res['dcgan'] * 1e3:7.2f} ms "
                      f"load1={res['load']:.2f}",
                      file=sys.stderr)

    print(f"{args.rounds} interleaved rounds, {os.cpu_count()} CPUs; medians over rounds")
    print("| BLAS | loaded libblas | threads | ConvT fwd+bwd ms | DCGAN step ms | load1 |")
    print("|---|---|---:|---:|---:|---:|")
    for variant in variants:
        for threads in (1, 2):
            runs = results[(variant, threads)]
            conv = statistics.median(x["conv"] for x in runs) * 1e3
            dcgan = statistics.median(x["dcgan"] for x in runs) * 1e3
            load = statistics.median(x["load"] for x in runs)
            blas = ",".join(runs[0]["blas"]).replace(LIB + "/", "")
            print(f"| {variant} | {blas} | {threads} | {conv:.2f} | {dcgan:.1f} | {load:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
