"""A sweep's results files merged into one table: per configuration, mean ± std over its seeds.

A sweep writes one results file per configuration and seed (:mod:`respkit.scale.sweep`).
:func:`merge_results` groups them back by configuration into results of several seeds, the shape that
``python -m respkit run --seeds N`` writes, so :func:`respkit.experiments.results_table` and the chapters
read them unchanged. :func:`sweep_table` shows the config fields that vary between configurations and
marks the chosen one. Nothing here needs Ray: a chapter can merge results files that a cluster wrote.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from respkit.experiments import summarize
from respkit.report import summary_cell


def merge_results(results: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Results of the same recipe, profile, config and data merged into one per configuration, in first-seen order.

    Each merged dict has ``recipe``, ``profile``, ``config``, ``data``, ``seeds`` (sorted),
    ``metrics_per_seed``, ``summary`` (:func:`respkit.experiments.summarize`: mean, sample std, n) and
    ``paths`` (the files merged). A seed found in two files (a run repeated with ``reuse=False``) counts
    once, from the first file by path. Results on other data (another data folder included) stay apart.
    """
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for result in results:
        key = json.dumps([result[k] for k in ("recipe", "profile", "config", "data")], sort_keys=True)
        groups.setdefault(key, []).append(result)
    merged = []
    for members in groups.values():
        members = sorted(members, key=lambda result: str(result.get("path", "")))
        per_seed: dict[int, Mapping[str, float]] = {}
        for member in members:
            for seed, metrics in zip(member["seeds"], member["metrics_per_seed"]):
                per_seed.setdefault(seed, metrics)
        seeds = sorted(per_seed)
        first = members[0]
        merged.append(
            {
                **{k: first[k] for k in ("recipe", "profile", "config", "data")},
                "seeds": seeds,
                "metrics_per_seed": [dict(per_seed[seed]) for seed in seeds],
                "summary": summarize([per_seed[seed] for seed in seeds]),
                "paths": [str(member.get("path")) for member in members],
            }
        )
    return merged


def best_configuration(merged: Sequence[Mapping[str, Any]], metric: str, mode: str = "max") -> Mapping[str, Any]:
    """The merged result with the best mean ``metric`` (``mode="max"`` or ``"min"``): a search's choice."""
    if mode not in ("max", "min"):
        raise ValueError(f"mode must be 'max' or 'min', not {mode!r}")
    scored = [result for result in merged if metric in result["summary"]]
    if not scored:
        raise KeyError(f"no result reports {metric!r}")
    sign = 1 if mode == "max" else -1
    return max(scored, key=lambda result: sign * result["summary"][metric]["mean"])


def varying_fields(merged: Sequence[Mapping[str, Any]]) -> list[str]:
    """The dotted config fields (``train.lr``) whose values differ between the merged results, sorted."""
    flat = [_flatten(result["config"]) for result in merged]
    keys = sorted({key for fields in flat for key in fields})
    return [key for key in keys if len({json.dumps(fields.get(key)) for fields in flat}) > 1]


def sweep_table(
    results: Iterable[Mapping[str, Any]],
    metrics: Sequence[str],
    *,
    select: str | None = None,
    mode: str = "max",
    scale: float = 100.0,
    digits: int = 2,
) -> str:
    """A Markdown table of a sweep: one row per configuration, its varying fields, ``mean ± std`` of each metric.

    ``results`` are per-seed results (what :func:`respkit.scale.run_sweep` returns, or loaded files); they
    are merged first. With ``select``, the configuration with the best mean of that metric is marked
    "chosen". Metrics are multiplied by ``scale`` (percent). In a notebook:
    ``IPython.display.Markdown(sweep_table(...))``.
    """
    merged = merge_results(results)
    fields = varying_fields(merged)
    chosen = best_configuration(merged, select, mode) if select is not None else None
    header = ["recipe", *fields, "seeds", *metrics, *(["chosen"] if chosen is not None else [])]
    rows = [header, ["---"] * len(header)]
    for result in merged:
        flat = _flatten(result["config"])
        cells = [result["recipe"], *(_cell(flat.get(field, "–")) for field in fields), str(len(result["seeds"]))]
        cells += [summary_cell(result["summary"].get(metric), scale, digits) for metric in metrics]
        if chosen is not None:
            cells.append("✓" if result is chosen else "")
        rows.append(cells)
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)


def _flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"train": {"lr": 1e-3}}`` -> ``{"train.lr": 1e-3}``: the keys of ``--set``."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, Mapping):
            flat |= _flatten(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _cell(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)
