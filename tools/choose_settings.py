"""Choose, on validation patients, the settings of the small profiles that were once chosen on held-out ones.

Each choice below trains its candidates with three seeds and keeps the one with the best mean score on the
validation patients (``valid_score``); held-out and official test scores are not read. The results files go
to ``respkit/results/choices/`` (command, config, data, seeds, commit), and the recipe's comment cites them.

    RESPKIT_DATA=../shared/data python tools/choose_settings.py [name ...]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from respkit.experiments import run_experiment

OUT = Path(__file__).resolve().parents[1] / "respkit" / "results" / "choices"
SEEDS = (0, 1, 2)

# name: (recipe, fixed overrides, the field chosen, its candidates)
CHOICES = {
    "windows_balance": ("supcon.windows", {"task": "2-2"}, "balanced", (1.0, 0.75, 0.5)),
    "clar_finetune_lr": ("clar.pretrain_finetune", {"label_fraction": 0.1}, "finetune.lr", (3e-3, 1e-3, 3e-4)),
    "patchmix_temperature": ("patchmix.cl", {}, "temperature", (0.06, 0.2)),
    "dass_specaugment": ("lungsrad.finetune", {}, "freq_mask", (0, 4)),  # time_mask follows: 0 or 10
}


def choose(name: str) -> None:
    recipe, fixed, field, candidates = CHOICES[name]
    scores = {}
    for value in candidates:
        overrides = {**fixed, field: value}
        if field == "freq_mask":
            overrides["time_mask"] = 10 if value else 0
        results = run_experiment(recipe, profile="quick", seeds=SEEDS, out_dir=OUT, overrides=overrides)
        per_seed = [m["valid_score"] for m in results["metrics_per_seed"]]
        scores[value] = (float(np.mean(per_seed)), float(np.std(per_seed, ddof=1)))
    best = max(scores, key=lambda v: scores[v][0])
    cells = ", ".join(f"{v:g}: {m:.3f} ± {s:.3f}" for v, (m, s) in scores.items())
    print(f"{name} ({recipe} quick, {field}, validation score over seeds {SEEDS}): {cells}; best {best:g}")


if __name__ == "__main__":
    for name in sys.argv[1:] or CHOICES:
        choose(name)
