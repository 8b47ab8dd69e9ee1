"""SPRSound (SJTU Paediatric Respiratory Sound Database), BioCAS 2022 release, in its official layout.

Layout under ``root/BioCAS2022`` (``root`` may also be the ``BioCAS2022`` folder itself)::

    train2022_json/<name>.json    train2022_wav/<name>.wav|.flac
    test2022_json/inter_test_json/<name>.json  (unseen patients)
    test2022_json/intra_test_json/<name>.json  (patients also in train)
    test2022_wav/<name>.wav|.flac

``<name>`` is ``patient_age_gender(0 M, 1 F)_location(p1..p4)_recordID``. A JSON file holds
``{"record_annotation": "...", "event_annotation": [{"start": "5778", "end": "7419", "type": "Normal"}]}``
with times in milliseconds, as strings or numbers, not always sorted.

Items are events (``level="event"``, tasks 1-1 and 1-2) or whole records (``level="record"``, tasks 2-1
and 2-2); labels come from the JSON alone. Choices made here:

- a JSON file that does not parse, lacks a key, has an unparseable or empty time span or an unknown
  label is an error naming the file (and the event); the README's spelling ``recording_annotation`` is
  accepted for ``record_annotation``;
- events are sorted by start time within each record;
- a file whose name does not follow the naming rule, and a record without audio, are skipped with a
  warning and counted in ``summary()`` (missing records are listed in ``missing_audio``);
- an event running past the end of its audio is clipped to the end (or skipped when it starts after
  it), with a warning naming the files; the record-level label is kept as written;
- a record holding NaN or infinite samples is left out, with a warning naming it (only float files can
  hold them, and only those are decoded to check; :mod:`respkit.data.audio`).

``duration=None`` serves each event or record at its natural length; a float centre-crops or centre
zero-pads it, deterministically (a random crop is a training augmentation, not the dataset's job).
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from respkit.data.audio import fix_length
from respkit.data.base import RespiratoryDataset, file_source
from respkit.data.cache import FeatureCache
from respkit.data.download import download_sprsound
from respkit.data.registry import DatasetSpec, register_dataset
from respkit.data.synthetic import write_sprsound
from respkit.metrics import sprsound_scorer

EVENT_TYPES = ["Normal", "Rhonchi", "Wheeze", "Stridor", "Coarse Crackle", "Fine Crackle", "Wheeze+Crackle"]
RECORD_LABELS = ["Normal", "CAS", "DAS", "CAS & DAS", "Poor Quality"]
Task = Literal["1-1", "1-2", "2-1", "2-2"]
Level = Literal["event", "record"]
Split = Literal["train", "inter_test", "intra_test"]
# Task -> (level, class names, map from the annotation string to a class index).
TASKS: dict[str, tuple[Level, list[str], dict[str, int]]] = {
    "1-1": ("event", ["Normal", "Adventitious"], {t: int(t != "Normal") for t in EVENT_TYPES}),
    "1-2": ("event", EVENT_TYPES, {t: i for i, t in enumerate(EVENT_TYPES)}),
    "2-1": (
        "record",
        ["Normal", "Adventitious", "Poor Quality"],
        {"Normal": 0, "CAS": 1, "DAS": 1, "CAS & DAS": 1, "Poor Quality": 2},
    ),
    "2-2": ("record", RECORD_LABELS, {t: i for i, t in enumerate(RECORD_LABELS)}),
}
SPLITS = {
    "train": ("train2022_json", "train2022_wav"),
    "inter_test": ("test2022_json/inter_test_json", "test2022_wav"),
    "intra_test": ("test2022_json/intra_test_json", "test2022_wav"),
}
LOCATIONS = {"p1": "left posterior", "p2": "left lateral", "p3": "right posterior", "p4": "right lateral"}
_NAME = re.compile(r"(\d+)_(\d+(?:\.\d+)?)_([01])_(p\d)_(\d+)")


@dataclass(frozen=True)
class SPRSoundItem:
    """One event or one record, with the patient facts from its file name."""

    record: str  # file stem, e.g. "40069321_15.3_0_p1_981"
    patient: str
    age: float  # years
    gender: str  # "M" or "F"
    location: str  # "left posterior", ...; p5-p8 (later releases) kept as written
    record_id: int
    split: str
    annotation: str  # the event type or record label as written in the JSON
    index: int | None  # the event's position in its record, sorted by start; None for a record
    start_ms: float | None  # None for a record
    end_ms: float | None


class SPRSound(RespiratoryDataset):
    """SPRSound 2022 events or records, labelled for one of the four challenge tasks.

    Args:
        root: folder holding ``BioCAS2022/`` (or that folder itself).
        split: "train", "inter_test" or "intra_test".
        level: "event" (tasks 1-1, 1-2) or "record" (tasks 2-1, 2-2).
        task: the label set; default the finest one of ``level`` ("1-2" or "2-2").
        sample_rate: audio is resampled to this rate (the release is 8 kHz).
        duration: seconds to centre-crop / zero-pad to, or None for natural lengths.
        transform, cache: features computed from the waveform, optionally cached on disk.
    """

    def __init__(
        self,
        root: str | Path,
        split: Split = "train",
        level: Level = "event",
        task: Task | None = None,
        sample_rate: int = 8000,
        duration: float | None = None,
        transform: nn.Module | None = None,
        cache: FeatureCache | None = None,
    ) -> None:
        super().__init__(sample_rate, transform, cache)
        if split not in SPLITS:
            raise ValueError(f"split must be one of {list(SPLITS)}, got {split!r}")
        if level not in ("event", "record"):
            raise ValueError(f"level must be 'event' or 'record', got {level!r}")
        task = task or ("1-2" if level == "event" else "2-2")
        if task not in TASKS or TASKS[task][0] != level:
            raise ValueError(f"task {task!r} does not fit level={level!r} (event: 1-1, 1-2; record: 2-1, 2-2)")
        self.split, self.level, self.task, self.duration = split, level, task, duration
        _, self.classes, to_label = TASKS[task]
        self.root = _release_folder(Path(root))
        json_dir, self.audio_dir = (self.root / d for d in SPLITS[split])
        if not json_dir.is_dir():
            raise FileNotFoundError(f"{json_dir}: not found; is {self.root} the SPRSound BioCAS2022 folder?")

        records: dict[str, list[SPRSoundItem]] = {}
        self.missing_audio: list[str] = []
        self._audio: dict[str, Path] = {}
        for path in sorted(json_dir.glob("*.json")):
            items = self._read_record(path)
            if items is None:
                continue
            audio = self._find_audio(path.stem)
            if audio is None:
                self.missing_audio.append(path.stem)
                if level == "event":
                    self.skipped["events without audio"] += len(items)
                continue
            self._audio[path.stem] = audio
            records[path.stem] = items
        if self.missing_audio:
            warnings.warn(
                f"{self.audio_dir}: {len(self.missing_audio)} record(s) have no .wav/.flac and are left out",
                stacklevel=2,
            )
            self.skipped["records without audio"] += len(self.missing_audio)
        self.meta: list[SPRSoundItem] = self._keep_playable(records)
        self.labels = np.array([to_label[m.annotation] for m in self.meta], dtype=np.int64)
        self.groups = np.array([m.patient for m in self.meta])

    def _read_record(self, path: Path) -> list[SPRSoundItem] | None:
        """The items of one JSON file; None when the file name does not follow the naming rule."""
        match = _NAME.fullmatch(path.stem)
        if match is None:
            warnings.warn(f"{path}: not an SPRSound name (patient_age_gender_location_recID); skipped", stacklevel=2)
            self.skipped["files with a non-SPRSound name"] += 1
            return None
        patient, age, gender, location, record_id = match.groups()
        facts: dict[str, Any] = dict(
            record=path.stem,
            patient=patient,
            age=float(age),
            gender="MF"[int(gender)],
            location=LOCATIONS.get(location, location),
            record_id=int(record_id),
            split=self.split,
        )
        record_label, events = read_json(path)
        assert record_label is not None  # read_json requires it unless told otherwise
        if self.level == "record":
            return [SPRSoundItem(**facts, annotation=record_label, index=None, start_ms=None, end_ms=None)]
        return [
            SPRSoundItem(**facts, annotation=kind, index=i, start_ms=start, end_ms=end)
            for i, (start, end, kind) in enumerate(events)
        ]

    def _keep_playable(self, records: dict[str, list[SPRSoundItem]]) -> list[SPRSoundItem]:
        """The items of records whose audio is undamaged, events clipped to (or skipped past) its end."""
        lengths = self._audio_lengths(self._audio.values())
        kept, past_end, overrunning = [], Counter[str](), set()
        for record, items in records.items():
            length = lengths.get(self._audio[record])
            if length is None:
                del self._audio[record]
                if self.level == "event":
                    self.skipped["events of records with NaN or infinite samples"] += len(items)
                continue
            for m in items:
                if m.start_ms is None or m.end_ms is None or m.end_ms <= 1000 * length:
                    kept.append(m)
                    continue
                if m.start_ms >= 1000 * length:
                    past_end["events starting after the audio ends (skipped)"] += 1
                else:
                    past_end["events clipped at the audio end"] += 1
                    kept.append(dataclasses.replace(m, end_ms=1000 * length))
                overrunning.add(self._audio[record].name)
        if overrunning:
            files = ", ".join(sorted(overrunning))
            warnings.warn(
                f"{self.audio_dir}: events run past the end of their audio in {files}: {dict(past_end)}", stacklevel=2
            )
            self.skipped.update(past_end)
        return kept

    def _find_audio(self, stem: str) -> Path | None:
        for suffix in (".wav", ".flac"):
            if (self.audio_dir / f"{stem}{suffix}").is_file():
                return self.audio_dir / f"{stem}{suffix}"
        return None

    def _waveform(self, i: int) -> torch.Tensor:
        m = self.meta[i]
        path = self._audio[m.record]
        wave = self._recording(path)  # [1, samples]
        if m.start_ms is not None and m.end_ms is not None:  # an event (a record has neither)
            start = round(m.start_ms * self.sample_rate / 1000)
            end = min(round(m.end_ms * self.sample_rate / 1000), wave.shape[-1])
            if end <= start:
                raise ValueError(f"{path}: event {m.index} ({m.start_ms}-{m.end_ms} ms) holds no samples")
            wave = wave[:, start:end]
        wave = wave.clone()  # never hand out a view of the cached recording
        if self.duration is None:
            return wave
        return fix_length(wave, round(self.duration * self.sample_rate), crop="centre", pad="zero")

    def _source(self, i: int) -> str:
        m = self.meta[i]
        recipe = f"sprsound|sr={self.sample_rate}|duration={self.duration}"
        return f"{file_source(self._audio[m.record])}|{m.start_ms}|{m.end_ms}|{recipe}"

    def _describe(self) -> str:
        return f"SPRSound(split={self.split}, level={self.level}, task={self.task})"


def _release_folder(root: Path) -> Path:
    if (root / "BioCAS2022").is_dir():
        return root / "BioCAS2022"
    if (root / "train2022_json").is_dir() or (root / "test2022_json").is_dir():
        return root
    raise FileNotFoundError(
        f"{root}: holds neither BioCAS2022/ nor train2022_json/; point root at the SPRSound release "
        "(respkit.data.download.download_sprsound fetches it)"
    )


def read_json(path: Path, *, record_label: bool = True) -> tuple[str | None, list[tuple[float, float, str]]]:
    """The record label and the events ``(start_ms, end_ms, type)`` sorted by time; errors name the file.

    The classification releases (BioCAS 2022, 2023) label every record; the detection releases (BioCAS 2024,
    2025) annotate events only: with ``record_label=False`` a file without a record label is read, and its
    label is ``None``.
    """
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object with record_annotation and event_annotation")
    label = data.get("record_annotation", data.get("recording_annotation"))
    if "event_annotation" not in data or (label is None and record_label):
        raise ValueError(f"{path}: missing key 'record_annotation' or 'event_annotation'")
    if label is not None and label not in RECORD_LABELS:
        raise ValueError(f"{path}: unknown record label {label!r}; expected one of {RECORD_LABELS}")
    events = []
    for i, event in enumerate(data["event_annotation"]):
        try:
            missing = {"start", "end", "type"} - set(event)
            if missing:
                raise ValueError(f"missing key(s) {sorted(missing)}")
            start, end = float(event["start"]), float(event["end"])
            if not (math.isfinite(start) and math.isfinite(end) and 0 <= start < end):
                raise ValueError("needs finite times with 0 <= start < end")
            if event["type"] not in EVENT_TYPES:
                raise ValueError(f"unknown type {event['type']!r}; expected one of {EVENT_TYPES}")
        except (TypeError, ValueError) as err:
            raise ValueError(f"{path}: event {i} {event!r}: {err}") from None
        events.append((start, end, event["type"]))
    return label, sorted(events)


def official_splits(root: str | Path, task: Task, **kwargs) -> tuple[SPRSound, dict[str, SPRSound]]:
    """The training set of ``task`` and the official test sets present (``"inter"``, ``"intra"``).

    The complete test sets are not everywhere (``../shared/data`` holds slices); a missing one is left out.
    """
    level = TASKS[task][0]
    tests = {}
    test_splits: dict[str, Split] = {"inter": "inter_test", "intra": "intra_test"}
    for name, split in test_splits.items():
        try:
            tests[name] = SPRSound(root, split=split, level=level, task=task, **kwargs)
        except FileNotFoundError:
            continue
    return SPRSound(root, split="train", level=level, task=task, **kwargs), tests


# Registered: resolve_data() finds (or simulates) SPRSound, and score_function() scores it.
register_dataset(
    DatasetSpec(
        "sprsound",
        marker="BioCAS2022",
        loader=SPRSound,
        metric=sprsound_scorer,
        simulate=write_sprsound,
        download=download_sprsound,
        splits=official_splits,
    )
)
