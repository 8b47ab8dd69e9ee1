"""The ICBHI 2017 Respiratory Sound Database, read from its official layout, one item per breathing cycle.

Layout under ``root``::

    ICBHI_final_database/<rec>.txt       one cycle per line: start_s end_s crackles(0/1) wheezes(0/1)
    ICBHI_final_database/<rec>.wav       the recording (44.1 kHz 16/24/32-bit, or 4 kHz)
    ICBHI_challenge_train_test.txt       <rec> TAB train|test  (the official 60/40 split, by recording)
    ICBHI_Challenge_diagnosis.txt        patient TAB diagnosis (optional)

``<rec>`` is ``Patient_Index_Location_Mode_Device``, e.g. ``101_1b1_Al_sc_Meditron``.

Labels come from the annotations alone, so counts, splits and statistics work without audio
(``metadata_only=True``). Choices made here, each visible in ``summary()`` when it applies:

- a malformed annotation line is an error naming the file and line (a damaged download, not data to
  guess at); a ``.txt`` whose name is not a recording name is skipped and counted;
- a split line naming no recording (the official file's ``226_1b1_Pl_sc_Meditron``) is warned about
  and counted; a recording absent from the split file is left out of train/test and counted;
- a cycle running past the end of its audio is clipped to the end (or skipped when nothing is left),
  with a warning naming the recordings;
- a recording holding NaN or infinite samples is left out with its cycles, with a warning naming it
  (only float WAVs can hold them, and only those are decoded to check; :mod:`respkit.data.audio`).

Waveform recipe (Patch-Mix CL, Bae et al. 2023): resample the whole recording to ``sample_rate``, a linear
fade in and out of ``sample_rate / 16`` samples (1,000 at 16 kHz) on the whole recording, cut the cycle,
then fix it to ``duration`` seconds: a longer cycle keeps its first ``duration`` seconds; a shorter one is
tiled from its start and faded out over the last ``sample_rate / 16`` samples (``pad="repeat"``), or
centred between zeros (``pad="zero"``).
"""

from __future__ import annotations

import dataclasses
import re
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import nn
from torchaudio.transforms import Fade

from respkit.data.audio import fix_length
from respkit.data.base import RespiratoryDataset, file_source
from respkit.data.cache import FeatureCache
from respkit.data.download import download_icbhi
from respkit.data.registry import DatasetSpec, register_dataset
from respkit.data.splits import patient_folds
from respkit.data.synthetic import write_icbhi
from respkit.metrics import icbhi_scorer

CLASSES = ["normal", "crackle", "wheeze", "both"]
DATABASE = "ICBHI_final_database"
SPLIT_FILE = "ICBHI_challenge_train_test.txt"
DIAGNOSIS_FILE = "ICBHI_Challenge_diagnosis.txt"
FOLD_SEED = 0  # patient-wise folds are fixed, so "fold 3" means the same patients everywhere
_NAME = re.compile(r"(\d+)_([0-9a-zA-Z]+)_([A-Za-z]{2})_([a-z]{2})_([0-9A-Za-z]+)")


@dataclass(frozen=True)
class ICBHICycle:
    """One annotated breathing cycle."""

    recording: str  # e.g. "101_1b1_Al_sc_Meditron"
    patient: int
    index: int  # position of the cycle in its recording's annotation file
    location: str  # Tc Al Ar Pl Pr Ll Lr
    mode: str  # sc (sequential) or mc (simultaneous)
    device: str  # AKGC417L LittC2SE Litt3200 Meditron
    start: float  # seconds
    end: float
    crackle: bool
    wheeze: bool
    diagnosis: str | None  # from the diagnosis table, when present
    split: str | None  # the recording's official split, when the split file lists it


class ICBHI(RespiratoryDataset):
    """Breathing cycles of ICBHI 2017, labelled normal / crackle / wheeze / both.

    Args:
        root: the folder holding ``ICBHI_final_database/`` and the official tables.
        split: "train" or "test" (the official split, or fold ``fold`` when given) or "all".
        fold: select the train/test side of patient-wise fold ``fold`` of ``n_folds`` over all recordings
            instead of the official split (no patient on both sides).
        sample_rate, duration, pad: the waveform recipe (module docstring); ``duration=None`` keeps each
            cycle at its natural length.
        metadata_only: build labels and metadata from the annotations and never touch audio.
        require_audio: when audio is missing, raise (True) or keep only the cycles whose audio exists
            (False; the missing recordings are listed in ``missing_audio`` and counted in ``summary()``).
        transform, cache: features computed from the waveform, optionally cached on disk.
    """

    classes = CLASSES

    def __init__(
        self,
        root: str | Path,
        split: Literal["train", "test", "all"] = "train",
        fold: int | None = None,
        n_folds: int = 5,
        sample_rate: int = 16000,
        duration: float | None = 8.0,
        pad: Literal["repeat", "zero"] = "repeat",
        metadata_only: bool = False,
        transform: nn.Module | None = None,
        cache: FeatureCache | None = None,
        require_audio: bool = True,
    ) -> None:
        super().__init__(sample_rate, transform, cache)
        if split not in ("train", "test", "all"):
            raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}")
        if pad not in ("repeat", "zero"):
            raise ValueError(f"pad must be 'repeat' or 'zero', got {pad!r}")
        if fold is not None and (split == "all" or not 0 <= fold < n_folds):
            raise ValueError(f"fold={fold} needs split 'train' or 'test' and 0 <= fold < n_folds={n_folds}")
        self.root = Path(root)
        self.database = self.root / DATABASE
        if not self.database.is_dir():
            raise FileNotFoundError(
                f"{self.database}: not found; root must hold the official ICBHI_final_database/ folder "
                "(respkit.data.download.download_icbhi fetches it)"
            )
        self.split, self.fold, self.n_folds = split, fold, n_folds
        self.duration, self.pad, self.metadata_only = duration, pad, metadata_only
        self.fade = sample_rate // 16  # 1,000 samples at 16 kHz
        self._fade_recording = Fade(self.fade, self.fade, "linear")
        self._fade_out = Fade(0, self.fade, "linear")

        cycles = self._read_all_cycles()
        cycles = self._select(cycles)
        self.missing_audio = sorted({c.recording for c in cycles if not self._audio_path(c.recording).exists()})
        if not metadata_only:
            cycles = self._keep_playable(cycles, require_audio)
        self.meta: list[ICBHICycle] = cycles
        self.labels = np.array([int(c.crackle) + 2 * int(c.wheeze) for c in cycles], dtype=np.int64)
        self.groups = np.array([c.patient for c in cycles], dtype=np.int64)

    # -- reading the tables -----------------------------------------------------------------------
    def _read_all_cycles(self) -> list[ICBHICycle]:
        """Every annotated cycle of every recording, in file-name order."""
        official = self._read_split_file()
        diagnosis = self._read_diagnosis()
        cycles = []
        recordings = set()
        for path in sorted(self.database.glob("*.txt")):
            match = _NAME.fullmatch(path.stem)
            if match is None:
                warnings.warn(
                    f"{path}: not an ICBHI recording name (Patient_Index_Location_Mode_Device); skipped", stacklevel=2
                )
                self.skipped["annotation files with a non-ICBHI name"] += 1
                continue
            recordings.add(path.stem)
            patient, _, location, mode, device = match.groups()
            for index, (start, end, crackle, wheeze) in enumerate(_read_annotation(path)):
                cycles.append(
                    ICBHICycle(
                        path.stem,
                        int(patient),
                        index,
                        location,
                        mode,
                        device,
                        start,
                        end,
                        crackle,
                        wheeze,
                        diagnosis.get(int(patient)),
                        official.get(path.stem),
                    )
                )
        orphans = sorted(set(official) - recordings)
        if orphans:
            warnings.warn(
                f"{self.root / SPLIT_FILE}: {len(orphans)} line(s) name no recording: {', '.join(orphans)}",
                stacklevel=2,
            )
            self.skipped["split-file lines naming no recording"] += len(orphans)
        return cycles

    def _read_split_file(self) -> dict[str, str]:
        path = self.root / SPLIT_FILE
        if not path.is_file():
            if self.split != "all" and self.fold is None:
                raise FileNotFoundError(f"{path}: the official split file is needed for split={self.split!r}")
            return {}
        split = {}
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 2 or fields[1] not in ("train", "test"):
                raise ValueError(f"{path}, line {number}: expected '<recording> train|test', got {line!r}")
            split[fields[0]] = fields[1]
        return split

    def _read_diagnosis(self) -> dict[int, str]:
        path = self.root / DIAGNOSIS_FILE
        if not path.is_file():
            return {}
        table = {}
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 2 or not fields[0].isdigit():
                raise ValueError(f"{path}, line {number}: expected '<patient> <diagnosis>', got {line!r}")
            table[int(fields[0])] = fields[1]
        return table

    # -- choosing items ---------------------------------------------------------------------------
    def _select(self, cycles: list[ICBHICycle]) -> list[ICBHICycle]:
        if self.split == "all":
            return cycles
        if self.fold is not None:
            labels = [int(c.crackle) + 2 * int(c.wheeze) for c in cycles]
            folds = patient_folds([c.patient for c in cycles], self.n_folds, FOLD_SEED, labels=labels)
            train, test = folds[self.fold]
            return [cycles[i] for i in (train if self.split == "train" else test)]
        unlisted = {c.recording for c in cycles if c.split is None}
        if unlisted:
            warnings.warn(
                f"{len(unlisted)} recording(s) are not in {SPLIT_FILE} and are left out: {sorted(unlisted)}",
                stacklevel=2,
            )
            self.skipped["recordings absent from the split file"] += len(unlisted)
        return [c for c in cycles if c.split == self.split]

    def _keep_playable(self, cycles: list[ICBHICycle], require_audio: bool) -> list[ICBHICycle]:
        """Drop cycles without audio (or raise) or with damaged audio, and clip cycles that run past their
        audio's end."""
        if self.missing_audio:
            n_recordings = len({c.recording for c in cycles})
            listing = ", ".join(self.missing_audio[:10]) + (", ..." if len(self.missing_audio) > 10 else "")
            if require_audio:
                raise FileNotFoundError(
                    f"{self.database}: {len(self.missing_audio)} of {n_recordings} recordings have no audio "
                    f"(.wav): {listing}. Use metadata_only=True for labels and statistics, require_audio=False "
                    "to keep only the recordings with audio, or fetch the audio with "
                    "respkit.data.download.download_icbhi()."
                )
            missing = set(self.missing_audio)
            warnings.warn(
                f"{self.database}: {len(missing)} of {n_recordings} recordings have no audio; "
                "their cycles are left out",
                stacklevel=2,
            )
            self.skipped["recordings without audio"] += len(missing)
            self.skipped["cycles without audio"] += sum(c.recording in missing for c in cycles)
            cycles = [c for c in cycles if c.recording not in missing]

        lengths = self._audio_lengths(self._audio_path(c.recording) for c in cycles)
        kept, past_end, overrunning = [], Counter[str](), set()
        for c in cycles:
            length = lengths.get(self._audio_path(c.recording))
            if length is None:
                self.skipped["cycles of recordings with NaN or infinite samples"] += 1
            elif c.start >= length:
                past_end["cycles starting after the audio ends (skipped)"] += 1
                overrunning.add(c.recording)
            elif c.end > length:
                past_end["cycles clipped at the audio end"] += 1
                overrunning.add(c.recording)
                kept.append(dataclasses.replace(c, end=length))
            else:
                kept.append(c)
        if overrunning:
            files = ", ".join(f"{rec}.wav" for rec in sorted(overrunning))
            warnings.warn(
                f"{self.database}: cycles run past the end of their audio in {files}: {dict(past_end)}", stacklevel=2
            )
            self.skipped.update(past_end)
        return kept

    # -- audio ------------------------------------------------------------------------------------
    def _audio_path(self, recording: str) -> Path:
        return self.database / f"{recording}.wav"

    def _decode(self, path: Path) -> torch.Tensor:
        return self._fade_recording(super()._decode(path))

    def _waveform(self, i: int) -> torch.Tensor:
        if self.metadata_only:
            raise RuntimeError("this ICBHI dataset was built with metadata_only=True and serves no audio")
        c = self.meta[i]
        recording = self._recording(self._audio_path(c.recording))  # [1, samples], faded
        start = round(c.start * self.sample_rate)
        end = min(round(c.end * self.sample_rate), recording.shape[-1])
        if end <= start:
            raise ValueError(f"{self._audio_path(c.recording)}: cycle {c.index} ({c.start}-{c.end} s) holds no samples")
        cycle = recording[:, start:end].clone()  # clone: never hand out a view of the cached recording
        if self.duration is None:
            return cycle
        length = round(self.duration * self.sample_rate)
        fixed = fix_length(cycle, length, crop="start", pad=self.pad)
        if self.pad == "repeat" and cycle.shape[-1] < length:
            fixed = self._fade_out(fixed)  # soften the tile's last seam, as the Patch-Mix recipe does
        return fixed

    def _source(self, i: int) -> str:
        c = self.meta[i]
        recipe = f"icbhi|sr={self.sample_rate}|duration={self.duration}|pad={self.pad}|fade={self.fade}"
        return f"{file_source(self._audio_path(c.recording))}|{c.start}|{c.end}|{recipe}"

    def _describe(self) -> str:
        fold = "" if self.fold is None else f", fold={self.fold}/{self.n_folds}"
        return f"ICBHI(split={self.split}{fold}{', metadata only' if self.metadata_only else ''})"


def _read_annotation(path: Path) -> list[tuple[float, float, bool, bool]]:
    """``(start, end, crackle, wheeze)`` per line; a malformed line is an error naming file and line."""
    cycles = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue  # blank lines (a trailing newline) carry nothing
        try:
            if len(fields) != 4:
                raise ValueError(f"expected 4 fields, found {len(fields)}")
            start, end = float(fields[0]), float(fields[1])
            if fields[2] not in ("0", "1") or fields[3] not in ("0", "1"):
                raise ValueError("crackle and wheeze flags must be 0 or 1")
            if not 0 <= start < end:
                raise ValueError("needs 0 <= start < end")
        except ValueError as err:
            raise ValueError(f"{path}, line {number}: malformed cycle {line!r} ({err})") from None
        cycles.append((start, end, fields[2] == "1", fields[3] == "1"))
    return cycles


def official_splits(root: str | Path, task: str | None = None, **kwargs) -> tuple[ICBHI, dict[str, ICBHI]]:
    """The official train side and ``{"test": test side}``; cycles of recordings without audio are left out."""
    kwargs.setdefault("require_audio", False)
    return ICBHI(root, split="train", **kwargs), {"test": ICBHI(root, split="test", **kwargs)}


# Registered: resolve_data() finds (or simulates) ICBHI, and score_function() scores it.
register_dataset(
    DatasetSpec(
        "icbhi",
        marker=DATABASE,
        loader=ICBHI,
        metric=icbhi_scorer,
        simulate=write_icbhi,
        download=download_icbhi,
        splits=official_splits,
    )
)
