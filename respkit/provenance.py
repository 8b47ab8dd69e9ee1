"""Which code produced a result: the git commit, whether the checkout had uncommitted changes, the version.

Every results file records :func:`provenance`. The commit comes from, in this order:

1. the git checkout that holds the running respkit (its ``respkit/__init__.py`` must be tracked there, so a
   copy installed into a virtual environment that happens to sit inside some repository is not credited
   with that repository's commit);
2. ``$RESPKIT_GIT_COMMIT`` (and ``$RESPKIT_GIT_DIRTY``, ``1``/``0``), for a machine that received a copy of
   the tree without ``.git`` (a GPU box): whoever copies it sets them from the checkout it came from;
3. nothing: the commit and the dirty flag are ``None`` and ``git_source`` says why.

"Dirty" means tracked files differ from the commit (``git status --untracked-files=no``, as
``git describe --dirty``): new untracked files, such as results being written, do not count.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from respkit import __version__

COMMIT_VARIABLE = "RESPKIT_GIT_COMMIT"
DIRTY_VARIABLE = "RESPKIT_GIT_DIRTY"
_PACKAGE = Path(__file__).resolve().parent


def provenance(package: str | Path = _PACKAGE) -> dict[str, Any]:
    """``{"git_commit", "git_dirty", "git_source", "respkit_version"}`` for the code in ``package``.

    ``git_commit`` is the full hash or ``None``; ``git_dirty`` is ``True``/``False``, or ``None`` when
    unknown; ``git_source`` says where both came from, in words.
    """
    package = Path(package)
    version = {"respkit_version": __version__}
    # Tracked? This fails outside a checkout too, so one call answers both questions.
    if _git(package, "ls-files", "--error-unmatch", "--", "__init__.py") is not None:
        commit = _git(package, "rev-parse", "HEAD")
        if commit:  # None before the first commit
            changes = _git(package, "status", "--porcelain", "--untracked-files=no")
            dirty = None if changes is None else bool(changes)
            return {
                "git_commit": commit,
                "git_dirty": dirty,
                "git_source": f"git checkout holding {package}",
                **version,
            }
    commit = os.environ.get(COMMIT_VARIABLE, "").strip()
    if commit:
        flag = os.environ.get(DIRTY_VARIABLE, "").strip().lower()
        dirty = {"1": True, "true": True, "0": False, "false": False}.get(flag)
        return {"git_commit": commit, "git_dirty": dirty, "git_source": f"${COMMIT_VARIABLE}", **version}
    reason = f"unknown: {package} is not in a git checkout and ${COMMIT_VARIABLE} is not set"
    return {"git_commit": None, "git_dirty": None, "git_source": reason, **version}


def _git(cwd: Path, *args: str) -> str | None:
    """``git args`` run in ``cwd``: its stripped output, or ``None`` when git is missing or fails."""
    try:
        result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() if result.returncode == 0 else None
