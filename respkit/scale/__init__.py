"""Scaling out on engines people already run: sweeps on Ray Tune, and the tables that merge their results.

* :func:`run_sweep` (``python -m respkit sweep``): many runs of a recipe, spread over this machine or a
  Ray cluster, each writing (or reusing) its own results file.
* :func:`merge_results`, :func:`sweep_table`, :func:`best_configuration`: a sweep's files as one table,
  mean ± std per configuration. These need no Ray.

One run on several GPUs is ``torchrun --nproc_per_node N -m respkit run <recipe>``: the trainer's side of
it is :mod:`respkit.train.distributed`.

The names are imported on first use, so that the command line's parser (:mod:`respkit.scale.cli`) loads
neither torch nor Ray.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "run_sweep": "respkit.scale.sweep",
    "best_configuration": "respkit.scale.merge",
    "merge_results": "respkit.scale.merge",
    "sweep_table": "respkit.scale.merge",
    "varying_fields": "respkit.scale.merge",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
