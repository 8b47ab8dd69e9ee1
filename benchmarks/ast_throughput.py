"""How fast does AST train here, and how close is that to what the hardware can do?

One run measures, on one device:

(a) the matmul peak: the FLOP/s of a large square ``torch.matmul`` in the training dtype
    (bf16 with AMP, fp32 without), the ceiling a transformer can approach;
(b) training throughput: samples/s of full steps (forward, cross-entropy, backward, Adam) on
    random spectrograms of the chosen length;
(c) model FLOPs per sample for forward + backward, counted by
    ``torch.utils.flop_counter.FlopCounterMode`` on one sample (next to the usual estimate
    6 x parameters x tokens, which leaves out the attention-score matmuls);

and prints the achieved model FLOP/s and its fraction of the measured matmul peak (the "model
FLOPs utilisation" of the PaLM paper, with a measured rather than a datasheet peak).

Defaults: ``ast_tiny``, batch 4, fp32 on CPU; ``ast_base``, batch 16, bf16 autocast on CUDA; both
with 8 s inputs (128 x 798, 950 tokens). Examples::

    python benchmarks/ast_throughput.py                       # CUDA if available, else CPU
    python benchmarks/ast_throughput.py --device cpu --model ast_small --batch 2
    python benchmarks/ast_throughput.py --device cuda --batch 32 --no-amp
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from respkit.features import fbank_frames
from respkit.models import create_model


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak(device: torch.device, dtype: torch.dtype, n: int, repeats: int) -> float:
    """FLOP/s of ``[n, n] @ [n, n]`` (2 n^3 FLOPs each), best of ``repeats`` timed calls."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    torch.matmul(a, b)  # warm-up (kernel selection, allocation)
    best = float("inf")
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        torch.matmul(a, b)
        synchronize(device)
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best


def model_flops_per_sample(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """FLOPs of forward + backward for one sample, counted by ``FlopCounterMode``.

    Attention runs unfused while counting: the fused kernels' formulas include the backward pass's
    recomputation of the attention scores (hardware FLOPs, not model FLOPs), and PyTorch has none
    at all for the CPU kernel, which it would count as 0.
    """
    attention = {m: m.fused_attn for m in model.modules() if hasattr(m, "fused_attn")}  # timm Attention
    for m in attention:
        m.fused_attn = False
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(model(x[:1]), y[:1]).backward()
    for m, fused in attention.items():
        m.fused_attn = fused
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def train_step(model, optimizer, x, y, amp_dtype: torch.dtype | None) -> None:
    with torch.autocast(x.device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
        loss = F.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--model", help="registered AST size (default: ast_base on CUDA, ast_tiny on CPU)")
    parser.add_argument("--batch", type=int, help="batch size (default: 16 on CUDA, 4 on CPU)")
    parser.add_argument("--frames", type=int, default=fbank_frames(8.0), help="input frames (798 = 8 s at a 10 ms hop)")
    parser.add_argument("--n-mels", type=int, default=128)
    parser.add_argument("--steps", type=int, help="timed training steps (default: 20 on CUDA, 3 on CPU)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed training steps first")
    parser.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None,
                        help="bf16 autocast (default: on for CUDA, off for CPU)")  # fmt: skip
    parser.add_argument("--matmul-size", type=int, help="side of the peak matmul (default: 8192 CUDA, 2048 CPU)")
    args = parser.parse_args()

    device = torch.device(args.device)
    cuda = device.type == "cuda"
    name = args.model or ("ast_base" if cuda else "ast_tiny")
    batch = args.batch or (16 if cuda else 4)
    steps = args.steps or (20 if cuda else 3)
    amp_dtype = torch.bfloat16 if (cuda if args.amp is None else args.amp) else None
    compute_dtype = amp_dtype or torch.float32

    peak = matmul_peak(device, compute_dtype, args.matmul_size or (8192 if cuda else 2048), repeats=5)

    torch.manual_seed(0)
    model = create_model(name, num_classes=4, n_mels=args.n_mels, input_frames=args.frames).to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-5, weight_decay=1e-6)
    x = torch.randn(batch, 1, args.n_mels, args.frames, device=device)  # [B, 1, F, T]
    y = torch.randint(0, 4, (batch,), device=device)

    flops_per_sample = model_flops_per_sample(model, x, y)
    for _ in range(args.warmup):
        train_step(model, optimizer, x, y, amp_dtype)
    synchronize(device)
    start = time.perf_counter()
    for _ in range(steps):
        train_step(model, optimizer, x, y, amp_dtype)
    synchronize(device)
    samples_per_s = batch * steps / (time.perf_counter() - start)

    height, width = model.patch_grid(args.n_mels, args.frames)
    tokens = 2 + height * width  # class and distillation tokens, then the patches
    params = sum(p.numel() for p in model.parameters())
    achieved = flops_per_sample * samples_per_s
    where = torch.cuda.get_device_name(device) if cuda else f"CPU, {torch.get_num_threads()} threads"
    print(f"device            {where}")
    print(f"model             {name}: {params / 1e6:.1f} M parameters, {tokens} tokens, batch {batch}, "
          f"{'bf16 autocast' if amp_dtype else 'fp32'}")  # fmt: skip
    print(f"matmul peak       {peak / 1e12:.3f} TFLOP/s ({compute_dtype})")
    print(f"throughput        {samples_per_s:.2f} samples/s (forward + backward + Adam, {steps} steps)")
    print(f"FLOPs / sample    {flops_per_sample / 1e9:.2f} GFLOP counted (6 x params x tokens: "
          f"{6 * params * tokens / 1e9:.2f} GFLOP)")  # fmt: skip
    print(f"model FLOP/s      {achieved / 1e12:.3f} TFLOP/s = {achieved / peak:.1%} of the matmul peak")


if __name__ == "__main__":
    main()
