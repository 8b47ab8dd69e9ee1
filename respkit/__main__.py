"""The command line: ``python -m respkit list``, ``python -m respkit run <recipe> ...`` and ``download``.

    python -m respkit run patchmix --profile quick --seeds 3 --set train.lr=1e-4 --out runs
    python -m respkit download icbhi|sprsound|ast-audioset [--dest DIR]

``run`` is :func:`respkit.experiments.run_experiment`: it loads an existing matching results file
instead of training again (``--no-reuse`` trains anyway) and prints where the results are.
"""

from __future__ import annotations

import argparse
import ast
import shlex
import sys
from typing import Any

from respkit.profiles import PROFILES


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
    run.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                     help="override a config field (dotted for nested configs); repeatable")
    run.add_argument("--no-reuse", dest="reuse", action="store_false", help="train even if matching results exist")
    download = commands.add_parser("download", help="download a dataset or pretrained weights (resumable, verified)")
    download.add_argument("what", metavar="NAME", help="icbhi, sprsound or ast-audioset")
    download.add_argument("--dest", default=None, help="a dataset goes to DEST/<name> (default DEST: $RESPKIT_CACHE/data), "
                          "weights to DEST itself (default: $RESPKIT_WEIGHTS, else $RESPKIT_CACHE/weights)")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    if args.command == "download":
        from respkit.data.download import DownloadError, download

        try:
            print(download(args.what, args.dest))
        except (DownloadError, ValueError) as err:
            raise SystemExit(f"respkit download: {err}") from err
        return 0
    # Imported here so that `--help` stays fast.
    from respkit.experiments import results_table, run_experiment
    from respkit.recipes import get_recipe, list_recipes

    if args.command == "list":
        for name in list_recipes():
            doc = (get_recipe(name).__doc__ or "").strip().splitlines()
            print(f"{name:30s} {doc[0] if doc else ''}")
        return 0

    results = run_experiment(
        args.recipe,
        profile=args.profile,
        seeds=range(args.seeds),
        out_dir=args.out,
        overrides=parse_overrides(args.overrides),
        reuse=args.reuse,
        command="python -m respkit " + shlex.join(argv),
    )
    print(results_table([results], list(results["summary"]), scale=1.0, digits=4))
    print(f"results: {results['path']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
