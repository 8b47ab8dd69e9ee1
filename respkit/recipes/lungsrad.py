"""Chapter 5's experiments: Lung-SRAD, the DASS state-space model with spectral regularisation and Dual-Axis Patch-Mix.

Lung-SRAD (Interspeech 2026) fine-tunes DASS (a VMamba on fbanks, :mod:`respkit.models.dass`) on ICBHI and
adds two things, which its ablation switches on one at a time. Every row is chapter 4's protocol
(:class:`respkit.recipes.patchmix.PatchModelRecipe`) with a :class:`LungSRADConfig`; the rows differ in three
fields:

=======================  ================  ========  ========  =====================================
recipe                   ``spectral_reg``  ``time``  ``freq``  paper (ICBHI score, mean of 5 seeds)
=======================  ================  ========  ========  =====================================
``lungsrad.finetune``    no                no        no        61.06 ± 1.27 (DASS fine-tune)
``lungsrad.spectral``    yes               no        no        62.22 ± 1.29
``lungsrad.time``        yes               yes       no        62.83
``lungsrad.freq``        yes               no        yes       63.18
``lungsrad.full``        yes               yes       yes       64.48 ± 0.25 (Lung-SRAD)
``lungsrad.ast``         (AST, no mix)                         59.55 (AST fine-tune, Patch-Mix CL paper)
=======================  ================  ========  ========  =====================================

The ablation is read as cumulative (each mix row keeps the spectral regularisation), which is how
"+ time-only mix" and "+ frequency-only mix" above the full model read. ``lungsrad.ast`` trains an AST under
the very same protocol and inputs, so the chapter can compare the two backbones' feature maps.

The objective (:class:`respkit.train.PatchMixCL`, chapter 4's with two mixers) is

    L = CE(f(x), y) + α_t · L_CL(time mix) + α_f · L_CL(freq mix)

where each ``L_CL`` is the Patch-Mix contrastive loss (τ = 0.2, its own projector) between the
stop-gradient feature of the clean input and the feature of the input whose patch grid had one contiguous
segment of time columns (or frequency rows) replaced by another item's (:class:`respkit.mix.PatchMix`
with ``contiguous=True``, ratio from Beta(1, 1)).

Protocol (``full``): ICBHI's official split; validation patients held out of its train side choose the
epoch, the official test side is scored once. 8 s cycles at 16 kHz, 128-bin Kaldi fbank (798 frames),
SpecAugment (2 frequency masks up to 48 bins, 2 time masks up to 160 frames), DASS-small, Adam lr 5e-5,
batch 16, τ = 0.2. Not stated by the paper and taken from the Patch-Mix CL recipe it builds on: 50 epochs,
weight decay 1e-6, cosine schedule to lr·1e-3, α_t = α_f = 1, mixed precision. The AudioSet DASS weights
(``DASS_small.pth``, released by the DASS authors without a download URL) are read from the file that
``RESPKIT_DASS_WEIGHTS`` names; without them the ``full`` profile refuses to run, unless its config says
``allow_random_init=True``.

``quick`` is chapter 4's quick setting (SPRSound events, task 1-1, 1.5 s, 32 mel bins) with a DASS of
widths 8 to 64 from scratch, 240 steps of 64 without SpecAugment (a DASS from scratch escapes its initial
plateau slowly, see :meth:`LungSRADConfig.quick`): it learns in a minute on a CPU and does not reproduce
the paper.

The smoothing at small input sizes. The kernel is counted in cells of the smoothed map, so its effect
depends on the map's size. On the paper's input (128 bins x 798 frames) the stage-2 map of DASS-small is
8 x 50 cells, and kernel 5, σ 3 is a local low-pass: it keeps 0.88 of the map's coarsest pattern along
frequency (one half period over the rows, the lowest cosine mode) and 1.00 along time, while removing
most of the finest detail. The ``quick`` and ``cpu`` inputs (32 bins, 1.5 s / 3 s at 20 ms) give a
stage-2 map of only 2 x 5 (2 x 10): along frequency it holds nothing but its mean and one pattern, which
is also its finest, and the same kernel keeps 0.22 of it per block (0.05 after the two blocks). The
stage then outputs little more than its average. Measured on the simulator (seed 0): the stage-2
output's spatial variance fell from 1.04 to 0.06 after training, the pooled features' spread over items
from 0.48 to 0.06, and the training cross-entropy stayed at ln 2 (0.692 after 480 steps, against 0.50
without the smoothing), so every seed ended predicting one class; a larger input alone (80 bins, a
5 x 7 map) did not change that. The small profiles therefore scale the kernel to their map by what it
does rather than by its size (:data:`SMALL_MAP_SMOOTHING`): kernel 3, σ 0.44 keeps the same 0.88 of a
2-row map's coarsest frequency pattern as the paper's kernel keeps of its 8-row map
(``tests/test_recipes_lungsrad.py`` checks both). ``full`` keeps the paper's kernel 5, σ 3.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torch import Tensor, nn

if TYPE_CHECKING:  # typing.Self is Python 3.11; annotations here are never evaluated at run time
    from typing_extensions import Self

from respkit.mix import PatchMix
from respkit.models import model_class
from respkit.recipes import register_recipe
from respkit.recipes.patchmix import PatchModelConfig, PatchModelRecipe, build_model, load_features
from respkit.runs import RunArtifacts, load_weights
from respkit.train import PatchMixCL, TrainConfig

WEIGHTS_ENV = "RESPKIT_DASS_WEIGHTS"  # the file the full profile reads DASS_small.pth from
# The smoothing of the profiles whose stage-2 map has 2 rows (module docstring): the paper's dose, not its size.
SMALL_MAP_SMOOTHING = {"spectral_kernel": 3, "spectral_sigma": 0.44}


@dataclass(frozen=True)
class LungSRADConfig(PatchModelConfig):
    """One Lung-SRAD run (see the module docstring for the protocol).

    Attributes:
        spectral_reg: Gaussian smoothing after blocks ``spectral_blocks`` of stage ``spectral_stage``
            (see :mod:`respkit.models.dass` for how the paper's indices are read).
        spectral_kernel, spectral_sigma: its kernel size and σ, in cells of the smoothed map (the paper's
            5 and 3; smaller maps need a smaller kernel, see the module docstring).
        time_mix, freq_mix: add the Patch-Mix contrastive loss on contiguous time / frequency segments.
        alpha_time, alpha_freq: their weights α_t, α_f. mix_alpha: Beta(a, a) of the ratio.
    """

    model: str = "dass_small"
    pretrained: str | None = None
    allow_random_init: bool = False
    spectral_reg: bool = False
    spectral_stage: int = 2
    spectral_blocks: tuple[int, ...] = (2, 3)
    spectral_kernel: int = 5
    spectral_sigma: float = 3.0
    time_mix: bool = False
    freq_mix: bool = False
    alpha_time: float = 1.0
    alpha_freq: float = 1.0
    mix_alpha: float = 1.0
    temperature: float = 0.2
    projector_dim: int | None = None
    batch_size: int = 16
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            epochs=50, lr=5e-5, optimizer="adam", weight_decay=1e-6, min_lr_ratio=1e-3, amp=True, select_metric="score"
        )
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.spectral_reg and not getattr(model_class(self.model), "supports_spectral_reg", False):
            raise ValueError(f"spectral_reg smooths blocks of a DASS; model {self.model!r} has none")

    @classmethod
    def full(cls) -> LungSRADConfig:
        weights = os.environ.get(WEIGHTS_ENV) or None
        if weights is not None and not Path(weights).is_file():
            raise FileNotFoundError(
                f"{WEIGHTS_ENV}={weights}: no such file; it must name DASS_small.pth, the "
                "AudioSet DASS weights released by the DASS authors"
            )
        return cls(pretrained=weights)

    @classmethod
    def quick(cls) -> LungSRADConfig:
        # Chapter 4's quick data; a DASS a quarter as wide as dass_tiny (its two stage-2 blocks kept for the
        # smoothing, scaled to their 2 x 5 map). From scratch on the simulated events it sat at ln 2 for its
        # first 100-200 steps, and under SpecAugment it rarely left. SpecAugment off: chosen again on validation
        # patients against chapter 4's masks (real events, 3 seeds; tools/choose_settings.py dass_specaugment,
        # results files in respkit/results/choices/). Batches of 64 cost 1.4x those of 32.
        chapter4 = PatchModelConfig.quick()
        return cls._small_dass(
            chapter4, dims=(8, 16, 32, 64), batch_size=64, epoch_items=1920, freq_mask=0, time_mask=0
        )

    @classmethod
    def cpu(cls) -> LungSRADConfig:
        # Chapter 4's cpu setting (chapter 6's benchmark: every event of task 1-2, 3 s) with the quick DASS at
        # twice its width; weights from scratch, as for the AST beside it.
        return cls._small_dass(PatchModelConfig.cpu(), dims=(16, 32, 64, 128))

    @classmethod
    def _small_dass(cls, chapter4: PatchModelConfig, dims: tuple[int, ...], **changes: Any) -> LungSRADConfig:
        """Chapter 4's setting ``chapter4`` with a DASS of stage widths ``dims`` from scratch, smoothed for its map."""
        shared = {f.name: getattr(chapter4, f.name) for f in dataclasses.fields(PatchModelConfig)}
        return cls(
            **shared
            | SMALL_MAP_SMOOTHING
            | {
                "model": "dass_tiny",
                "allow_random_init": True,
                "spectral_blocks": (0, 1),
                "temperature": 0.2,
                "model_kwargs": {"dims": dims, "depths": (1, 1, 2, 1), "drop_path_rate": 0.0},
                **changes,
            }
        )

    def model_options(self) -> dict[str, Any]:
        if not self.spectral_reg:
            return {}
        return {
            "spectral_reg": {
                "stage": self.spectral_stage,
                "blocks": self.spectral_blocks,
                "kernel_size": self.spectral_kernel,
                "sigma": self.spectral_sigma,
            }
        }

    def mixers(self) -> dict[str, tuple[PatchMix, float]]:
        """The mixed axes with their weights α (none: plain fine-tuning)."""
        axes = {"time": (self.time_mix, self.alpha_time), "freq": (self.freq_mix, self.alpha_freq)}
        return {
            axis: (PatchMix(axis, self.mix_alpha, contiguous=True), alpha)
            for axis, (used, alpha) in axes.items()
            if used
        }

    def objective(self, model: nn.Module) -> PatchMixCL:
        mixers = self.mixers()
        return PatchMixCL(
            model,
            {k: m for k, (m, _) in mixers.items()},
            {k: a for k, (_, a) in mixers.items()},
            self.augment(),
            self.temperature,
            self.projector_dim,
        )


@register_recipe("lungsrad.finetune")
class Finetune(PatchModelRecipe):
    """DASS fine-tuned with cross-entropy (Lung-SRAD's baseline row)."""

    Config = LungSRADConfig


@register_recipe("lungsrad.spectral")
class Spectral(PatchModelRecipe):
    """DASS + spectral-aware regularisation (Gaussian smoothing in two blocks)."""

    @dataclass(frozen=True)
    class Config(LungSRADConfig):
        spectral_reg: bool = True


@register_recipe("lungsrad.time")
class TimeMix(PatchModelRecipe):
    """DASS + spectral regularisation + Patch-Mix CL on contiguous time segments."""

    @dataclass(frozen=True)
    class Config(LungSRADConfig):
        spectral_reg: bool = True
        time_mix: bool = True


@register_recipe("lungsrad.freq")
class FreqMix(PatchModelRecipe):
    """DASS + spectral regularisation + Patch-Mix CL on contiguous frequency segments."""

    @dataclass(frozen=True)
    class Config(LungSRADConfig):
        spectral_reg: bool = True
        freq_mix: bool = True


@register_recipe("lungsrad.full")
class LungSRAD(PatchModelRecipe):
    """Lung-SRAD: DASS + spectral regularisation + Dual-Axis Patch-Mix CL (time and frequency)."""

    @dataclass(frozen=True)
    class Config(LungSRADConfig):
        spectral_reg: bool = True
        time_mix: bool = True
        freq_mix: bool = True


@register_recipe("lungsrad.ast")
class AST(PatchModelRecipe):
    """AST fine-tuned under Lung-SRAD's protocol (the backbone the paper compares against)."""

    @dataclass(frozen=True)
    class Config(LungSRADConfig):
        model: str = "ast_base"
        pretrained: str | None = "audioset"

        @classmethod
        def full(cls) -> Self:
            return cls()

        @classmethod
        def quick(cls) -> Self:
            chapter4 = PatchModelConfig.quick()  # chapter 4's quick AST, under this protocol
            return dataclasses.replace(  # type: ignore[return-value]  # replace keeps the class of cls
                super().quick(), model=chapter4.model, model_kwargs=chapter4.model_kwargs, train=chapter4.train
            )

        @classmethod
        def cpu(cls) -> Self:
            chapter4 = PatchModelConfig.cpu()
            return dataclasses.replace(  # type: ignore[return-value]  # replace keeps the class of cls
                super().cpu(), model=chapter4.model, model_kwargs=chapter4.model_kwargs, train=chapter4.train
            )


def config_from_results(results: Mapping[str, Any]) -> LungSRADConfig:
    """The config stored (as JSON) in a results dict (``pretrained`` only names the weights it started from)."""
    return LungSRADConfig.from_dict(dict(results["config"]) | {"allow_random_init": True})


def load_trained_model(results: Mapping[str, Any], seed: int | None = None) -> nn.Module:
    """The model of seed ``seed`` (default: the first) with the weights its run kept, in eval mode, on the CPU.

    Built as the run built it, without loading its starting weights (the trained ones replace them).
    """
    model = build_model(config_from_results(results), len(RunArtifacts.of(results, seed).classes))
    model.load_state_dict(load_weights(results, seed))
    return model.eval()


def input_batch(config: LungSRADConfig, data: Any, n: int = 16) -> tuple[Tensor, Tensor]:
    """``n`` held-out items as the models read them (``[n, 1, n_mels, frames]``) and their labels.

    Drawn per class in proportion from the ``val`` split, so the spectral analysis of the chapter looks at
    the same inputs for every model.
    """
    val = load_features(data, dataclasses.replace(config, max_val=n)).val
    return val.x, val.y
