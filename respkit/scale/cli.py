"""``python -m respkit sweep``: the command line of :func:`respkit.scale.run_sweep`.

    python -m respkit sweep 'baseline.*' --seeds 3 --grid train.lr=1e-3,3e-3 --set max_train=600
    python -m respkit sweep baseline.sprsound --seeds 2 --search 'train.lr=loguniform(1e-4, 1e-2)' --samples 12
    python -m respkit sweep baseline.sprsound --seeds 5 --address head-node:6379

Values are read as ``--set`` reads them (Python literals, ``true``/``false``/``none``, else strings). A grid
lists values separated by commas (``train.optimizer=adam,sgd``), or as one Python list when they contain
commas themselves (``widths=[(8, 16, 32, 64), (16, 32, 64, 128)]``).
"""

from __future__ import annotations

import argparse
import ast
import re
from typing import Any

from respkit.profiles import PROFILES


def add_sweep_parser(commands: Any) -> None:
    """Add the ``sweep`` subcommand to the subparsers of ``python -m respkit``."""
    sweep = commands.add_parser("sweep", help="run configurations x seeds on Ray Tune, one results file each")
    sweep.add_argument("recipes", nargs="+", metavar="RECIPE", help="recipe names or glob patterns ('baseline.*')")
    sweep.add_argument("--profile", choices=PROFILES, default=None, help="default: RESPKIT_PROFILE, else by hardware")
    sweep.add_argument("--seeds", type=int, default=1, help="seeds 0..N-1 of every configuration (default 1)")
    sweep.add_argument("--out", default="runs", help="folder for results files (default: runs)")
    sweep.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a config change shared by every trial; repeatable",
    )
    sweep.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="KEY=V1,V2,...",
        help="values to try for a config field; repeatable (the grid is their product)",
    )
    sweep.add_argument(
        "--search",
        action="append",
        default=[],
        metavar="KEY=KIND(ARGS)",
        help="a search domain, KIND one of uniform, loguniform, randint, choice; repeatable",
    )
    sweep.add_argument("--samples", type=int, default=8, help="configurations a search tries (default 8)")
    sweep.add_argument("--metric", default="score", help="held-out metric a search optimises and the table shows")
    sweep.add_argument("--mode", choices=("max", "min"), default="max")
    sweep.add_argument("--algorithm", choices=("optuna", "random"), default="optuna", help="search algorithm")
    sweep.add_argument(
        "--address", default=None, help="a running Ray cluster (host:port); default: Ray on this machine"
    )
    sweep.add_argument("--workers", type=int, default=None, help="at most N trials at once (default: all resources)")
    sweep.add_argument("--cpus-per-trial", type=float, default=1.0)
    sweep.add_argument("--gpus-per-trial", type=float, default=None, help="default: 1 when the cluster has GPUs")


def sweep_command(args: argparse.Namespace, command: str) -> int:
    """Run the sweep ``args`` describe and print its table; ``command`` is recorded in every results file."""
    from respkit.__main__ import parse_overrides
    from respkit.scale import run_sweep, sweep_table

    results = run_sweep(
        args.recipes,
        seeds=range(args.seeds),
        grid={key: parse_values(text) for key, text in _pairs(args.grid, "--grid")},
        overrides=parse_overrides(args.overrides),
        search={key: parse_domain(text) for key, text in _pairs(args.search, "--search")},
        samples=args.samples,
        metric=args.metric,
        mode=args.mode,
        algorithm=args.algorithm,
        profile=args.profile,
        out_dir=args.out,
        address=args.address,
        workers=args.workers,
        cpus_per_trial=args.cpus_per_trial,
        gpus_per_trial=args.gpus_per_trial,
        command=command,
    )
    select = args.metric if args.search else None
    print(sweep_table(results, [args.metric], select=select, mode=args.mode, scale=1.0, digits=4))
    print(f"{len(results)} results files in {args.out}")
    return 0


def parse_values(text: str) -> list[Any]:
    """A grid's values: ``"1e-3,3e-3"`` -> ``[0.001, 0.003]``, ``"adam,sgd"`` -> ``["adam", "sgd"]``.

    A Python list literal is taken as it is (for values with commas of their own, such as tuples).
    """
    from respkit.__main__ import parse_value

    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return [parse_value(part.strip()) for part in text.split(",")]
    if isinstance(value, list):
        return value
    return list(value) if isinstance(value, tuple) else [value]


def parse_domain(text: str) -> tuple[Any, ...]:
    """A search domain: ``"loguniform(1e-4, 1e-2)"`` -> ``("loguniform", 1e-4, 1e-2)``.

    ``choice`` takes its values as a grid does: ``"choice(adam, sgd)"`` -> ``("choice", ["adam", "sgd"])``.
    """
    from respkit.scale.sweep import DOMAINS

    match = re.fullmatch(r"\s*(\w+)\s*\((.*)\)\s*", text)
    if match is None or match.group(1) not in DOMAINS:
        raise SystemExit(f"--search expects KEY=KIND(ARGS) with KIND one of {', '.join(DOMAINS)}; got {text!r}")
    kind, arguments = match.groups()
    if kind == "choice":
        return kind, parse_values(arguments)
    return (kind, *parse_values(arguments))


def _pairs(pairs: list[str], option: str) -> list[tuple[str, str]]:
    parsed = []
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise SystemExit(f"{option} expects KEY=VALUES, got {pair!r}")
        parsed.append((key.strip(), value.strip()))
    return parsed
