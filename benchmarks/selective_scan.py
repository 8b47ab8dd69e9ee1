"""Speed of the fast selective scan against the reference loop (``respkit.models.scan``).

Prints, for sequence lengths 1k, 4k and 16k and state sizes 1 (DASS) and 16 (Mamba's default), the
time of one forward pass of ``selective_scan_ref`` and of ``selective_scan`` and their ratio, on CPU,
and on the GPU when there is one (there also mamba_ssm's kernel, if it is installed). Each time is the
best of a few repetitions; the reference, a Python loop over time, is run fewer times (stated in the
table). Sizes: batch 2, dim 64, softplus on delta with a bias, D and z given, as in a Mamba layer.

The CPU rows are measured twice, with torch's default thread count and with one thread: on a machine
shared with other jobs, every parallel op of the fast scan waits for its second thread to be
scheduled, which can cost more than the op itself, while the reference loop's tiny ops never run in
parallel. On an idle machine the default row is the one to read; the last line prints the headline
ratio (state 1, L = 4k, the DASS setting). With state 16 the ratio is much smaller: each step of the
loop is then a still-small [batch, dim, state] op, while the fast scan streams [batch, dim, state, L]
tensors through memory several times (memory-bound). Timings on a shared machine vary by tens of percent.

    python benchmarks/selective_scan.py
"""

from __future__ import annotations

import time

import torch

from respkit.models.scan import selective_scan, selective_scan_ref, selective_scan_torch

BATCH, DIM = 2, 64
LENGTHS = (1024, 4096, 16384)
STATES = (1, 16)


def make_inputs(length: int, state: int, device: torch.device) -> tuple:
    g = torch.Generator().manual_seed(0)
    u = torch.randn(BATCH, DIM, length, generator=g)
    delta = torch.randn(BATCH, DIM, length, generator=g) * 0.5
    A = -torch.rand(DIM, state, generator=g) * 4 - 0.5
    B = torch.randn(BATCH, state, length, generator=g)
    C = torch.randn(BATCH, state, length, generator=g)
    D = torch.randn(DIM, generator=g)
    z = torch.randn(BATCH, DIM, length, generator=g)
    bias = torch.randn(DIM, generator=g) * 0.1
    return tuple(t.to(device) for t in (u, delta, A, B, C, D, z, bias))


def best_time(fn, inputs: tuple, repeats: int, device: torch.device) -> float:
    """Best wall time of ``repeats`` calls, in seconds (after one warm-up call)."""
    u, delta, A, B, C, D, z, bias = inputs
    call = lambda: fn(u, delta, A, B, C, D, z, bias, delta_softplus=True)  # noqa: E731
    call()
    best = float("inf")
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        call()
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best


def rows(device: torch.device, threads: int) -> dict[tuple[int, int], float]:
    """Print one row per (state, length) and return the ratios."""
    ratios = {}
    for state in STATES:
        for length in LENGTHS:
            inputs = make_inputs(length, state, device)
            ref_reps = 3 if length <= 4096 else 1
            t_ref = best_time(selective_scan_ref, inputs, ref_reps, device)
            t_fast = best_time(selective_scan_torch, inputs, 10, device)
            ratios[state, length] = t_ref / t_fast
            line = (
                f"{device.type:6} {threads:7d} {state:5d} {length:6d} {t_ref * 1e3:9.1f} {ref_reps:6d} "
                f"{t_fast * 1e3:9.2f} {t_ref / t_fast:6.1f}x"
            )
            if device.type == "cuda":
                t_dispatch = best_time(selective_scan, inputs, 5, device)
                line += f"   selective_scan (mamba_ssm if installed): {t_dispatch * 1e3:.2f} ms"
            print(line, flush=True)
    return ratios


def main() -> None:
    default_threads = torch.get_num_threads()
    print(f"torch {torch.__version__}; batch {BATCH}, dim {DIM}; forward pass only")
    print(f"{'device':6} {'threads':>7} {'state':>5} {'L':>6} {'ref ms':>9} {'(reps)':>6} {'fast ms':>9} {'ratio':>7}")
    headline = {}
    for threads in sorted({default_threads, 1}, reverse=True):
        torch.set_num_threads(threads)
        headline[threads] = rows(torch.device("cpu"), threads)[1, 4096]
    torch.set_num_threads(default_threads)
    if torch.cuda.is_available():
        rows(torch.device("cuda"), default_threads)
    summary = ", ".join(f"{ratio:.1f}x with {threads} thread(s)" for threads, ratio in headline.items())
    print(f"CPU, state 1, L = 4096 (the DASS setting): fast scan / reference loop = {summary}; target >= 20x")


if __name__ == "__main__":
    main()
