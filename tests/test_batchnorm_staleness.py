"""Why chapter 3's record-task runs predicted no Normal record: BatchNorm statistics that trail the weights.

The recorded ``supcon.resnet`` run on task 2-2 (``respkit/results/supcon.resnet-full-f10c762a.json``)
scored specificity 0: not one held-out Normal record was predicted Normal. The paper's optimiser is SGD
at a constant learning rate. In eval mode a BatchNorm normalises with running averages collected over
earlier steps, under earlier weights; while a large constant rate keeps moving the weights, those
averages describe a network that no longer exists, and whole classes can drop out of the predictions.
This test reproduces that on a ResNet18 and a task it learns perfectly, and shows that the recipes'
optimiser (``_sgd``, which recomputes the statistics for the final weights) does not.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from respkit.models import create_model
from respkit.recipes.supcon import _sgd
from respkit.train import Supervised, Trainer, predict


def stripes(n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Noise ``[n, 1, 32, 32]``; class 1 and class 2 add a band of rows (0 adds none)."""
    y = torch.randint(0, 3, (n,), generator=generator)
    x = torch.randn(n, 1, 32, 32, generator=generator)
    x[y == 1, :, 5:10] += 1.5
    x[y == 2, :, 20:25] += 1.5
    return x, y


def test_stale_batchnorm_statistics_drop_a_class_and_recomputing_them_restores_it():
    generator = torch.Generator().manual_seed(0)
    train, test = stripes(512, generator), stripes(300, generator)
    loader = DataLoader(TensorDataset(*train), batch_size=32, shuffle=True, drop_last=True)
    recipe_optimiser = _sgd(4, 0.5, amp=False)  # the paper's SGD at a constant rate, as the recipes use it
    assert recipe_optimiser.recompute_batchnorm and recipe_optimiser.min_lr_ratio == 1.0

    def predictions(config) -> np.ndarray:
        torch.manual_seed(0)
        model = create_model("resnet18", num_classes=3, width=8)
        Trainer(Supervised(model), config, device="cpu", progress=False).fit(loader)
        return predict(model, DataLoader(TensorDataset(*test), batch_size=100)).y_pred

    old = predictions(dataclasses.replace(recipe_optimiser, recompute_batchnorm=False))
    new = predictions(recipe_optimiser)
    y = test[1].numpy()
    # The old behaviour: a class is never predicted (as Normal was on task 2-2), accuracy falls far.
    assert np.bincount(old, minlength=3).min() == 0
    assert (old == y).mean() < 0.8
    # The same weights with statistics of the final network: every class back, the task solved.
    assert np.bincount(new, minlength=3).min() > 0
    assert (new == y).mean() > 0.95
