"""How many samples per second does the Trainer train, and what does it cost over a bare loop?

On random spectrogram batches ``[B, 1, 128, 300]``, on the CPU and (when present) on CUDA, one run
times ``steps`` optimizer steps two ways, after a warm-up:

* ``Trainer.fit`` (Adam, per-step schedule, loss read back every ``log_every`` steps, AMP on CUDA);
* a bare loop doing the same forward / cross-entropy / backward / Adam step and nothing else;

and prints samples/s for both and their ratio (the trainer's overhead). Examples::

    python benchmarks/trainer_throughput.py                     # a small inline CNN
    python benchmarks/trainer_throughput.py --model cnn_small --steps 50 --batch 32
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from respkit.models import create_model
from respkit.train import Supervised, TrainConfig, Trainer


def inline_cnn(num_classes: int) -> nn.Module:
    """A small CNN for ``[B, 1, 128, T]`` spectrograms, used when no ``--model`` is given."""
    block = lambda i, o: nn.Sequential(nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU(), nn.MaxPool2d(2))  # noqa: E731
    return nn.Sequential(
        block(1, 16), block(16, 32), block(32, 64), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, num_classes)
    )


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_trainer(model: nn.Module, loader: DataLoader, device: torch.device, steps: int) -> float:
    """Seconds for ``steps`` Trainer steps (a 2-step warm-up run first)."""
    for n in (2, steps):
        config = TrainConfig(epochs=1, lr=1e-4, amp=True, max_steps_per_epoch=n, log_every=10)
        trainer = Trainer(Supervised(model), config, device=device, progress=False)
        synchronize(device)
        start = time.perf_counter()
        trainer.fit(loader)  # reads the last losses back, so the device is done when it returns
        elapsed = time.perf_counter() - start
    return elapsed


def time_bare_loop(model: nn.Module, loader: DataLoader, device: torch.device, steps: int) -> float:
    """Seconds for ``steps`` hand-written steps with the same precision (a 2-step warm-up first)."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    dtype = torch.bfloat16 if device.type == "cuda" else None  # the trainer's AMP choice on a modern GPU
    model.train()
    for n in (2, steps):
        synchronize(device)
        start = time.perf_counter()
        for _, (x, y) in zip(range(n), loader):
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        synchronize(device)
        elapsed = time.perf_counter() - start
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a respkit.models name (default: a small inline CNN)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--frames", type=int, default=300, help="spectrogram frames (time axis)")
    parser.add_argument("--classes", type=int, default=4)
    args = parser.parse_args()

    data = TensorDataset(
        torch.randn(args.batch * 8, 1, 128, args.frames), torch.randint(args.classes, (args.batch * 8,))
    )
    loader = DataLoader(data, batch_size=args.batch, shuffle=True, drop_last=True)
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])

    print(
        f"model {args.model or 'inline CNN'}, batch {args.batch}, {args.steps} steps, input [B, 1, 128, {args.frames}]"
    )
    print("| device | trainer samples/s | bare loop samples/s | trainer / bare |\n|---|---|---|---|")
    for device in devices:
        rates = []
        for timer in (time_trainer, time_bare_loop):
            torch.manual_seed(0)
            model = create_model(args.model, num_classes=args.classes) if args.model else inline_cnn(args.classes)
            rates.append(args.steps * args.batch / timer(model.to(device), loader, device, args.steps))
        print(f"| {device.type} | {rates[0]:.1f} | {rates[1]:.1f} | {rates[0] / rates[1]:.2f} |")


if __name__ == "__main__":
    main()
