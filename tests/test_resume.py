"""An interrupted run resumes to the same result, in every recipe family, whatever point it died at.

Each case runs a recipe through the command line in a subprocess, as a user would, on the simulator:
once uninterrupted, and once killed with SIGKILL at a chosen point and then run again with the same
command. Both must write the same metrics, to the last bit (the CPU is deterministic).

The kill comes from inside the process at an exact point, so that the test is repeatable: a small
wrapper (``KILLER``) counts calls of one trainer function and sends SIGKILL to its own process at the
n-th one: after an epoch's checkpoint (``_end_epoch``), in the middle of an evaluation (``predict``), or
half-way through writing a checkpoint (``atomic_save``: the temporary file is there, the old one not yet
replaced).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

KILLER = """
import os, signal, sys
import respkit.files, respkit.train.evaluate, respkit.train.trainer
from respkit.__main__ import main

target, at = sys.argv[1], int(sys.argv[2])
calls = 0

def counted(module, name):
    original = getattr(module, name)
    def wrapper(*args, **kwargs):
        global calls
        calls += 1
        if target == "atomic_save" and calls == at:  # die with the temporary file written, before the replace
            path = args[1]
            respkit.files.atomic_write(str(path) + ".partial", lambda tmp: tmp.write_bytes(b"half"), durable=False)
            os.kill(os.getpid(), signal.SIGKILL)
        result = original(*args, **kwargs)
        if calls == at:
            os.kill(os.getpid(), signal.SIGKILL)
        return result
    setattr(module, name, wrapper)

if target == "_end_epoch":
    counted(respkit.train.trainer.Trainer, "_end_epoch")
elif target == "predict":  # the recipes import predict by name: patch it where the evaluator looks it up
    import respkit.recipes.common
    counted(respkit.recipes.common, "predict")
elif target == "atomic_save":
    counted(respkit.train.trainer, "atomic_save")
sys.exit(main(sys.argv[3:]))
"""


def steps(stage: str) -> list[str]:
    """Three epochs of three steps for one training stage, as ``--set`` overrides."""
    return [f"{stage}.epochs=3", f"{stage}.amp=false", f"{stage}.log_every=1", f"{stage}.max_steps_per_epoch=3"]


SMALL_DATA = ["max_train=48", "max_val=24", "max_test=16", "batch_size=8"]
FAMILIES = {
    "baseline.sprsound": [*SMALL_DATA, "widths=(4, 4, 8, 8)", *steps("train")],
    "supcon.mixup": [
        *SMALL_DATA,
        "n_mfcc=16",
        "width=4",
        "embedding_dim=8",
        "event_seconds=1.0",
        *steps("pretrain"),
        *steps("finetune"),
    ],
    "clar.joint": [
        *SMALL_DATA,
        "duration=1.0",
        "projection_dim=8",
        "model_kwargs={'widths': (4, 4, 8, 8)}",
        *steps("train"),
    ],
    "clar.pretrain_finetune": [
        *SMALL_DATA,
        "duration=1.0",
        "projection_dim=8",
        "model_kwargs={'widths': (4, 4, 8, 8)}",
        *steps("train"),
        *steps("finetune"),
    ],
    "patchmix.cl": [
        *SMALL_DATA,
        "duration=1.0",
        "model_kwargs={'embed_dim': 16, 'depth': 1, 'num_heads': 2}",
        "epoch_items=16",
        *steps("train"),
    ],  # weight averaging after every step
    "lungsrad.full": [
        *SMALL_DATA,
        "batch_size=4",
        "duration=1.0",
        "epoch_items=8",
        *steps("train"),
        "train.select_metric=score",
    ],  # two mixers, spectral smoothing, epoch selection
    "detection.crnn": [
        *SMALL_DATA,
        "clip=2.0",
        "widths=(4, 8, 8)",
        "hidden=8",
        "rnn_layers=1",
        *steps("train"),
    ],  # recordings, frame targets, post-processing chosen on validation patients
}
# (recipe, function whose n-th call kills the process, n)
CASES = [
    ("baseline.sprsound", "_end_epoch", 1),
    ("baseline.sprsound", "predict", 2),  # during the evaluation after epoch 2
    ("baseline.sprsound", "atomic_save", 2),  # while writing epoch 2's checkpoint
    ("supcon.mixup", "_end_epoch", 2),  # inside stage 1
    ("supcon.mixup", "_end_epoch", 4),  # stage 1 done, inside stage 2
    ("clar.joint", "_end_epoch", 1),  # both streams
    ("clar.pretrain_finetune", "_end_epoch", 3),  # between the stages
    ("clar.pretrain_finetune", "predict", 2),
    ("patchmix.cl", "_end_epoch", 1),
    ("lungsrad.full", "_end_epoch", 2),
    ("lungsrad.full", "atomic_save", 3),  # while writing the last epoch's checkpoint
    ("detection.crnn", "_end_epoch", 2),
]


@pytest.fixture(scope="module")
def environment(simulated):
    """The subprocesses' environment: the simulator written by the fixture, no real data, one thread."""
    env = {
        **os.environ,
        "RESPKIT_CACHE": os.environ["RESPKIT_CACHE"],
        "RESPKIT_DATA": "",
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": str(Path(__file__).parents[1]),
    }
    return env


def run_cli(recipe: str, out: Path, env: dict, kill: tuple[str, int] | None = None) -> subprocess.CompletedProcess:
    args = ["run", recipe, "--profile", "quick", "--out", str(out)]
    for override in FAMILIES[recipe]:
        args += ["--set", override]
    if kill is None:
        command = [sys.executable, "-m", "respkit", *args]
    else:
        command = [sys.executable, "-c", KILLER, kill[0], str(kill[1]), *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


def metrics(out: Path) -> list[dict]:
    (path,) = out.glob("*.json")
    return json.loads(path.read_text())["metrics_per_seed"]


@pytest.fixture(scope="module")
def uninterrupted(environment, tmp_path_factory):
    cache: dict[str, list[dict]] = {}

    def get(recipe: str) -> list[dict]:
        if recipe not in cache:
            out = tmp_path_factory.mktemp(recipe)
            done = run_cli(recipe, out, environment)
            assert done.returncode == 0, done.stderr[-2000:]
            cache[recipe] = metrics(out)
        return cache[recipe]

    return get


@pytest.mark.parametrize("recipe, target, at", CASES, ids=[f"{r}-{t}{n}" for r, t, n in CASES])
def test_killed_run_resumes_to_the_same_result(recipe, target, at, environment, uninterrupted, tmp_path):
    expected = uninterrupted(recipe)
    killed = run_cli(recipe, tmp_path, environment, kill=(target, at))
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]  # it did die where asked
    assert not list(tmp_path.glob("*.json"))  # no results file from a run that did not finish
    resumed = run_cli(recipe, tmp_path, environment)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert metrics(tmp_path) == expected
