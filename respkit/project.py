"""Where respkit lives and how a reader gets it: the one source for every link and install command.

The repository, the published book and the install spec are written here and nowhere else by hand.
``tools/sync_notebooks.py`` writes each chapter's setup cell and README's chapter table from these
values; ``tests/test_book.py`` checks that ``_config.yml``, ``pyproject.toml`` and README agree with
them. To move the project (a fork, a new host), change this file and run the sync tool.

A chapter's setup cell cannot import respkit before installing it, so it carries :data:`INSTALL_SPEC`
as a literal; :data:`INSTALL_ENV` lets a reader install from elsewhere without editing the notebook.
"""

from __future__ import annotations

from dataclasses import dataclass

REPOSITORY = "https://github.com/respkit/respkit"
BRANCH = "main"
#: Where GitHub Pages serves the book that .github/workflows/book.yml builds.
BOOK_URL = "https://respkit.github.io/respkit/"
#: What a chapter installs when respkit is missing (Colab). No spaces, so that it stays one shell word.
INSTALL_SPEC = f"respkit@git+{REPOSITORY}@{BRANCH}"
#: Overrides :data:`INSTALL_SPEC`: any pip requirement, e.g. a fork's git URL, a wheel file or a local checkout.
INSTALL_ENV = "RESPKIT_INSTALL"

COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"


@dataclass(frozen=True)
class Chapter:
    """One chapter: its notebook, the title its setup line prints, the datasets it trains on, and the
    optional extras its code needs installed (``pyproject.toml``'s ``[project.optional-dependencies]``)."""

    notebook: str  # path from the repository root
    title: str
    datasets: tuple[str, ...]  # what the `full` profile needs real (see respkit.book.setup_chapter)
    extras: tuple[str, ...] = ()

    @property
    def install_spec(self) -> str:
        """:data:`INSTALL_SPEC` with this chapter's extras (``respkit[scale]@git+...``)."""
        return (
            INSTALL_SPEC.replace("respkit@", f"respkit[{','.join(self.extras)}]@", 1) if self.extras else INSTALL_SPEC
        )

    @property
    def colab_url(self) -> str:
        """Opens the notebook from GitHub in Colab (the same link as the book's launch button)."""
        return f"https://colab.research.google.com/github/{github_slug()}/blob/{BRANCH}/{self.notebook}"

    @property
    def book_url(self) -> str:
        """The chapter's page in the published book."""
        return BOOK_URL + self.notebook.removesuffix(".ipynb") + ".html"


CHAPTERS = (
    Chapter("book/ch1_listening.ipynb", "Chapter 1: Listening to lungs", ("icbhi", "sprsound")),
    Chapter("book/ch2_clar.ipynb", "Chapter 2: CLAR", ("sprsound",)),
    Chapter("book/ch3_supcon.ipynb", "Chapter 3: SupCon and MixUp", ("sprsound",)),
    Chapter(
        "book/ch4_ast.ipynb",
        "Chapter 4: The Audio Spectrogram Transformer and Patch-Mix contrastive learning",
        ("icbhi", "sprsound"),
    ),
    Chapter(
        "book/ch5_ssm.ipynb", "Chapter 5: State-space models, spectral analysis and Lung-SRAD", ("icbhi", "sprsound")
    ),
    Chapter("book/ch6_bench.ipynb", "Chapter 6: All methods on one bench", ("sprsound",)),
    Chapter("book/ch7_detection.ipynb", "Chapter 7: Event detection", ("sprsound",)),
    Chapter("book/appendix_supcon_public.ipynb", "Appendix: Chapter 3 against the paper's public code", ("sprsound",)),
    Chapter("book/appendix_scale.ipynb", "Appendix: Running at scale", ("sprsound",), extras=("scale",)),
)


def github_slug() -> str:
    """``owner/name`` of :data:`REPOSITORY`."""
    return REPOSITORY.removeprefix("https://github.com/").strip("/")
