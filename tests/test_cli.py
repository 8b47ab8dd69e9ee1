"""The command line says what it is doing and refuses what the chapters refuse.

``python -m respkit run <recipe> --profile full`` must not spend GPU hours on simulated sounds unasked
(the chapters' rule, :func:`respkit.book.choose_profile`), and must say so before writing anything; while
the simulator writes its data, the command line says so too.
"""

import dataclasses

import pytest

from respkit.__main__ import main
from respkit.data import locate
from respkit.data.registry import DATASETS


@pytest.fixture
def no_data(tmp_path, monkeypatch):
    monkeypatch.delenv("RESPKIT_DATA", raising=False)
    monkeypatch.delenv("RESPKIT_PROFILE", raising=False)
    monkeypatch.delenv("RESPKIT_ALLOW_SIMULATED_FULL", raising=False)
    monkeypatch.setenv("RESPKIT_CACHE", str(tmp_path / "cache"))
    return tmp_path


def test_full_on_simulated_data_is_refused_before_anything_is_simulated(no_data):
    with pytest.raises(SystemExit) as refused:
        main(["run", "supcon.resnet", "--profile", "full", "--out", str(no_data / "runs")])
    message = str(refused.value.code)
    assert "simulator" in message and "RESPKIT_ALLOW_SIMULATED_FULL=1" in message
    assert "python -m respkit download sprsound" in message and "--profile quick" in message
    assert not (no_data / "cache").exists() and not (no_data / "runs").exists()  # nothing written


def test_the_opt_in_lets_full_through(no_data, monkeypatch):
    from respkit.__main__ import _profile_for

    monkeypatch.setenv("RESPKIT_ALLOW_SIMULATED_FULL", "1")
    assert _profile_for("supcon.resnet", "full", {}) == "full"
    monkeypatch.delenv("RESPKIT_ALLOW_SIMULATED_FULL")
    assert _profile_for("supcon.resnet", "quick", {}) == "quick"


def test_the_simulator_says_when_it_writes_and_when_it_is_done(no_data, monkeypatch, capsys):
    def write(root, seed=0):
        (root / "BioCAS2022").mkdir(parents=True)

    spec = dataclasses.replace(DATASETS["sprsound"], simulate=write)
    monkeypatch.setenv("RESPKIT_PROGRESS", "1")
    assert locate.would_simulate("sprsound")
    location = locate._simulate(spec)
    err = capsys.readouterr().err
    assert "no sprsound data found: the simulator writes it once" in err and "simulated sprsound written in" in err
    assert location.simulated and (location.root / "BioCAS2022").is_dir()
    locate._simulate(spec)  # already there: nothing to say
    assert capsys.readouterr().err == ""
    monkeypatch.delenv("RESPKIT_PROGRESS")
    spec_quiet = dataclasses.replace(spec, name="quiet")
    locate._simulate(spec_quiet)  # a notebook (no RESPKIT_PROGRESS) keeps its output clean
    assert capsys.readouterr().err == ""


def _results(**summary):
    return {
        "recipe": "r",
        "profile": "quick",
        "seeds": [0],
        "summary": {k: {"mean": v, "std": 0.0, "n": 1} for k, v in summary.items()},
    }


def test_the_table_reports_the_decision_asked_for_and_every_split_under_it():
    from respkit.__main__ import decision_table

    results = _results(
        score=0.5, se=0.4, sp=0.6, inter_score=0.45, prior_score=0.7, prior_se=0.8, prior_sp=0.6, inter_prior_score=0.65
    )
    argmax, prior = decision_table(results, "argmax"), decision_table(results, "prior")
    assert argmax.startswith("decision: argmax") and "prior" not in argmax.splitlines()[1]
    assert "| 50.00 |" in argmax and "| 45.00 |" in argmax
    header = prior.splitlines()[1]
    assert "prior_score" in header and "inter_prior_score" in header and "| score" not in header
    assert "| 70.00 |" in prior and "| 65.00 |" in prior and "50.00" not in prior
    with pytest.raises(SystemExit, match="no prior-corrected decision"):
        decision_table(_results(score=0.5), "prior")


def test_a_recipe_asks_for_its_decision():
    from respkit.recipes import get_recipe

    assert get_recipe("clar.joint").decision == "prior"
    assert get_recipe("supcon.resnet").decision == "argmax"
