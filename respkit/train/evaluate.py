"""Deterministic inference: a classifier's predictions over a whole loader.

:func:`predict` runs in eval mode (dropout off, BatchNorm on its running statistics) under
``torch.inference_mode`` and then puts every submodule back in the mode it was in, so it can be
called from inside a training loop. Determinism of the *inputs* is the dataset's job: evaluation
clips must be cropped or padded the same way every time (one of the pitfalls in the public code).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


@dataclass
class Predictions:
    """Labels and predictions for N items over C classes.

    Attributes:
        y_true: ``[N]`` integer labels.
        y_pred: ``[N]`` predicted class (the arg-max of ``scores``).
        scores: ``[N, C]`` softmax probabilities.
    """

    y_true: np.ndarray
    y_pred: np.ndarray
    scores: np.ndarray


def predict(model: nn.Module, loader: Iterable, device: str | torch.device | None = None) -> Predictions:
    """Run ``model`` (``x -> logits [B, C]``) over ``loader`` of ``(x, y)`` batches.

    ``device`` defaults to the device of the model's parameters.
    """
    device = torch.device(device) if device is not None else next(model.parameters()).device
    modes = {module: module.training for module in model.modules()}
    model.eval()
    labels, scores = [], []
    try:
        with torch.inference_mode():
            for x, y in loader:
                logits = model(x.to(device, non_blocking=True))  # (B, C)
                scores.append(logits.float().softmax(dim=1).cpu())
                labels.append(torch.as_tensor(y).cpu())
    finally:
        for module, training in modes.items():  # per module: a frozen part may have been in eval mode on purpose
            module.train(training)
    all_scores = torch.cat(scores).numpy()
    return Predictions(y_true=torch.cat(labels).numpy(), y_pred=all_scores.argmax(axis=1), scores=all_scores)


@torch.no_grad()
def embed(model: nn.Module, loader: Iterable) -> np.ndarray:
    """Encoder features ``[N, D]`` (``model.forward_features``) of every item of ``loader``, in eval mode."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = [model.forward_features(x.to(device)).float().cpu() for x, _ in loader]  # type: ignore[operator]
    model.train(was_training)
    return torch.cat(out).numpy()
