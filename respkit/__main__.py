"""The command line: ``python -m respkit list``, ``run <recipe> ...``, ``bench``, ``sweep`` and ``download``.

    python -m respkit run patchmix --profile quick --seeds 3 --set train.lr=1e-4 --out runs
    torchrun --nproc_per_node 2 -m respkit run patchmix      # one run, data-parallel over 2 processes
    python -m respkit sweep 'baseline.*' --seeds 5 --grid train.lr=1e-3,3e-3   # on Ray Tune (respkit.scale.cli)
    python -m respkit bench [RECIPE ...]     # chapter 6: every method, cpu profile, 3 seeds; resumes
    python -m respkit bench --axes           # chapter 6's budget and label-fraction axes (respkit.axes)
    python -m respkit download icbhi|sprsound|ast-audioset [--dest DIR]

``run`` is :func:`respkit.experiments.run_experiment`: it loads an existing matching results file
instead of training again (``--no-reuse`` trains anyway) and prints where the results are.
"""

from __future__ import annotations

import argparse
import ast
import os
import shlex
import sys
from typing import Any

from respkit.profiles import PROFILES
from respkit.scale.cli import add_sweep_parser, sweep_command


def parse_value(text: str) -> Any:
    """A ``--set`` value: ``true``/``false``/``none`` (any case), a Python literal, or else the string itself."""
    words = {"true": True, "false": False, "none": None, "null": None}
    if text.lower() in words:
        return words[text.lower()]
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    overrides = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"--set expects key=value, got {pair!r}")
        overrides[key.strip()] = parse_value(value.strip())
    return overrides


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m respkit", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="list the registered recipes")
    run = commands.add_parser("run", help="run a recipe and write its results file")
    run.add_argument("recipe")
    run.add_argument("--profile", choices=PROFILES, default=None, help="default: RESPKIT_PROFILE, else by hardware")
    run.add_argument("--seeds", type=int, default=1, help="run seeds 0..N-1 (default 1)")
    run.add_argument("--out", default="runs", help="folder for results files (default: runs)")
    run.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config field (dotted for nested configs); repeatable",
    )
    run.add_argument("--no-reuse", dest="reuse", action="store_false", help="train even if matching results exist")
    run.add_argument(
        "--decision",
        choices=("argmax", "prior"),
        default=None,
        help="the decision the table reports: argmax, or the prior correction fitted on validation patients "
        "(default: the recipe's)",
    )
    bench = commands.add_parser("bench", help="chapter 6's bench: every method's cpu profile over seeds (resumes)")
    bench.add_argument("recipes", nargs="*", metavar="RECIPE", help="some of the bench's recipes (default: all)")
    bench.add_argument("--task", default="1-2", help="SPRSound event task (default 1-2)")
    bench.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 of each method (default 3)")
    bench.add_argument("--out", default=None, help="folder for results files (default: respkit/results/bench)")
    bench.add_argument("--axes", action="store_true", help="the budget and label-fraction axes (respkit/results/axes)")
    add_sweep_parser(commands)
    download = commands.add_parser("download", help="download a dataset or pretrained weights (resumable, verified)")
    download.add_argument("what", metavar="NAME", help="icbhi, sprsound or ast-audioset")
    margins = commands.add_parser("margins", help="each results file's score against always-normal and chance")
    margins.add_argument("folder", help="a folder of results files (e.g. _build/runs)")
    download.add_argument(
        "--dest",
        default=None,
        help="a dataset goes to DEST/<name> (default DEST: $RESPKIT_CACHE/data), "
        "weights to DEST itself (default: $RESPKIT_WEIGHTS, else $RESPKIT_CACHE/weights)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    os.environ.setdefault("RESPKIT_PROGRESS", "1")  # progress bars on stderr (respkit.profiles.show_progress)
    if args.command == "download":
        from respkit.data.download import DownloadError, download

        try:
            print(download(args.what, args.dest))
        except (DownloadError, ValueError) as err:
            raise SystemExit(f"respkit download: {err}") from err
        return 0
    if args.command == "sweep":
        return sweep_command(args, command="python -m respkit " + shlex.join(argv))
    if args.command == "margins":
        from respkit.report import margins_table

        print(margins_table(args.folder))
        return 0
    # Imported here so that `--help` stays fast.
    from respkit.experiments import run_experiment
    from respkit.recipes import get_recipe, list_recipes
    from respkit.report import results_table
    from respkit.train import distributed

    if args.command == "list":
        for name in list_recipes():
            doc = (get_recipe(name).__doc__ or "").strip().splitlines()
            print(f"{name:30s} {doc[0] if doc else ''}")
        return 0

    from respkit.profiles import configure_threads, select_device

    if args.command == "bench":
        from respkit.axes import AXES_DIR, run_axes
        from respkit.bench import BENCH_DIR, run_bench

        configure_threads("quick", select_device())  # one thread per run: the bench's CPU-minutes are comparable
        if args.axes:
            runs = run_axes(args.recipes, task=args.task, seeds=args.seeds, out_dir=args.out or AXES_DIR)
        else:
            runs = run_bench(args.recipes, task=args.task, seeds=args.seeds, out_dir=args.out or BENCH_DIR)
        print(results_table(runs, ["score", "se", "sp", "inter_score", "intra_score"]))
        return 0
    profile = _profile_for(args.recipe, args.profile, parse_overrides(args.overrides))
    configure_threads(profile, select_device())
    results = run_experiment(
        args.recipe,
        profile=profile,
        seeds=range(args.seeds),
        out_dir=args.out,
        overrides=parse_overrides(args.overrides),
        reuse=args.reuse,
        command="python -m respkit " + shlex.join(argv),
    )
    distributed.shutdown()  # under torchrun: every rank is done before any leaves the group
    if distributed.is_main():
        # The headline numbers only; every metric (per-class recall, floors, ...) is in the results file.
        decision = args.decision or get_recipe(args.recipe).decision
        print(decision_table(results, decision))
        print(f"all metrics: {results['path']}")
    return 0


def decision_table(results: dict[str, Any], decision: str) -> str:
    """Score, SE and SP of every split under ``decision``: ``"argmax"``, or ``"prior"``, the prior correction
    fitted on the validation patients (its metrics are ``prior_score``, ``inter_prior_score``, ...)."""
    from respkit.report import results_table

    summary = results["summary"]
    scored = {key.removesuffix("score") for key in summary if key.endswith("_score") and key.count("_") == 1}
    splits = [""] + sorted(scored - {"prior_"})
    infix = "prior_" if decision == "prior" else ""
    if infix and "prior_score" not in summary:
        raise SystemExit(f"{results['recipe']} stored no prior-corrected decision; report it with --decision argmax")
    metrics = [
        f"{split}{infix}{m}" for split in splits for m in ("score", "se", "sp") if f"{split}{infix}{m}" in summary
    ]
    note = "decision: prior correction fitted on validation patients\n" if infix else "decision: argmax\n"
    return note + results_table([results], metrics)


def _profile_for(recipe: str, profile: str | None, overrides: dict[str, Any]) -> str:
    """The profile ``run`` trains at, by the chapters' rule (:func:`respkit.book.choose_profile`), decided
    before any data is simulated: ``full`` asked for by name on a dataset that only the simulator would
    provide is refused without the opt-in; ``full`` picked because a GPU is here falls back to ``quick``."""
    from respkit.book import ALLOW_SIMULATED_FULL_ENV, DOWNLOAD_SIZES, SimulatedDataError, choose_profile
    from respkit.data.locate import would_simulate
    from respkit.experiments import apply_overrides
    from respkit.profiles import select_profile
    from respkit.recipes import get_recipe

    config = apply_overrides(get_recipe(recipe).Config.for_profile(select_profile(profile)), overrides)
    simulated = [config.dataset] if would_simulate(config.dataset) else []
    try:
        chosen, fallback = choose_profile(profile, simulated)
    except SimulatedDataError:
        name = config.dataset
        raise SystemExit(
            f"respkit run {recipe}: profile full trains at the papers' scale on real data only, and {name} would "
            f"come from respkit's simulator (none in $RESPKIT_DATA or the cache). Get the data with "
            f"`python -m respkit download {name}` ({DOWNLOAD_SIZES.get(name, 'size unknown')}), run "
            f"--profile quick, or opt in to the simulator with {ALLOW_SIMULATED_FULL_ENV}=1."
        ) from None
    if fallback:
        print(f"profile quick, not full: {fallback}", file=sys.stderr)
    return chosen


if __name__ == "__main__":
    sys.exit(main())
