"""Simulated datasets written in the official ICBHI 2017 and SPRSound (BioCAS 2022) layouts.

The real loaders (:class:`respkit.data.ICBHI`, :class:`respkit.data.SPRSound`) read these folders
unchanged, so every chapter runs the same code on simulated and on real data. The writers mirror the
official releases: file names, sample rates, tab- and CRLF-conventions of the tables, the JSON keys and
millisecond strings, the split files and folder names (as in the official releases' files and their READMEs).

Beside the layout each writer puts ``SIMULATED.json``: the generator version, seed and parameters and
the exact ground truth of every cycle (each crackle, wheeze and heart sound with its time and pitch).
Its presence is also what allows a later call to rewrite the folder: a writer refuses to touch a
non-empty folder without it, so user data is never overwritten. Every file is written atomically
(:func:`respkit.files.atomic_write`), and the same seed gives byte-identical output.

Sizes are kept small on purpose (ICBHI a few hundred cycles, ~15 MB, a second or two to write; SPRSound
about 1,600 events, ~55 MB, about six seconds): enough for a small model to learn on a laptop CPU, with
class balances skewed like the real data but with more minority examples than a sample of that size would
hold. SPRSound is the larger because the quick profiles train on its events: at 40 patients (about 240
training events after the held-out patients) a quick run took a few dozen steps and its SupCon rows never
left the always-Normal floor; at 160 patients the same profiles see as many steps as on the real data.
How hard the classes are to tell apart is the ``difficulty`` argument
(:class:`~respkit.data.synthetic.sounds.Difficulty`); its default,
:data:`~respkit.data.synthetic.sounds.DIFFICULTY`, is calibrated against a reference model
(:mod:`respkit.data.synthetic.reference`) and recorded in the manifest's parameters.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
import soundfile as sf

from respkit.data.synthetic import sounds
from respkit.data.synthetic.sounds import DEVICES, DIFFICULTY, Cycle, Difficulty, simulate_recording
from respkit.files import atomic_write

MANIFEST = "SIMULATED.json"

# ---------------------------------------------------------------------------------------------
# Safe, atomic file output
# ---------------------------------------------------------------------------------------------


class _Writer:
    """Writes files under one root atomically and remembers them for the manifest.

    Opening refuses a non-empty root that holds no manifest (it is not ours to overwrite); closing
    deletes the files a previous simulator run listed and this one did not write.
    """

    def __init__(self, root: str | os.PathLike, layout: str, seed: int, parameters: dict) -> None:
        self.root = Path(root)
        manifest = self.root / MANIFEST
        if self.root.exists() and any(self.root.iterdir()) and not manifest.is_file():
            raise FileExistsError(
                f"{self.root} is not empty and holds no {MANIFEST}: "
                "refusing to overwrite data the simulator did not write"
            )
        self.previous_files = set(json.loads(manifest.read_text())["files"]) if manifest.is_file() else set()
        self.files: list[str] = []
        self.header = {
            "generator": "respkit.data.synthetic",
            "version": sounds.SIMULATOR_VERSION,  # read at write time: the one number locate also reads
            "layout": layout,
            "seed": seed,
            "parameters": parameters,
        }
        # Claim the folder first, marked incomplete, so an interrupted run can be rewritten later.
        self.root.mkdir(parents=True, exist_ok=True)
        self._put(manifest, self._manifest(complete=False, recordings={}))

    def _manifest(self, complete: bool, recordings: dict) -> bytes:
        body = {**self.header, "complete": complete, "files": sorted(self.files), "recordings": recordings}
        return json.dumps(body, indent=1).encode()

    @staticmethod
    def _put(path: Path, data: bytes) -> None:
        # Not durable (an fsync costs ~10 ms a file, seconds a folder): simulated files can be written again.
        atomic_write(path, lambda tmp: tmp.write_bytes(data), durable=False)

    def bytes(self, relative: str, data: bytes) -> None:
        self._put(self.root / relative, data)
        self.files.append(relative)

    def text(self, relative: str, lines: Sequence[str], newline: str = "\n", final_newline: bool = True) -> None:
        self.bytes(relative, (newline.join(lines) + (newline if final_newline else "")).encode())

    def wav(self, relative: str, waveform: np.ndarray, sample_rate: int) -> None:
        buffer = io.BytesIO()
        sf.write(buffer, waveform, sample_rate, format="WAV", subtype="PCM_16")
        self.bytes(relative, buffer.getvalue())

    def close(self, recordings: dict) -> Path:
        for stale in sorted(self.previous_files - set(self.files)):
            (self.root / stale).unlink(missing_ok=True)
        self._put(self.root / MANIFEST, self._manifest(complete=True, recordings=recordings))
        return self.root


def _cycle_truth(cycle: Cycle) -> dict:
    return {
        "kind": cycle.kind,
        "start_s": cycle.start_s,
        "end_s": cycle.end_s,
        "events": [asdict(e) for e in cycle.events],
    }


# ---------------------------------------------------------------------------------------------
# ICBHI 2017
# ---------------------------------------------------------------------------------------------

ICBHI_CLASSES = ("normal", "crackle", "wheeze", "both")

#: Per diagnosis: probabilities of a cycle being normal / crackle / wheeze / both, and the age range.
#: COPD patients carry most adventitious cycles in ICBHI, healthy ones almost none.
ICBHI_DIAGNOSES: dict[str, tuple[tuple[float, float, float, float], tuple[float, float]]] = {
    "COPD": ((0.30, 0.36, 0.22, 0.12), (50.0, 88.0)),
    "Healthy": ((0.96, 0.02, 0.02, 0.00), (0.5, 40.0)),
    "URTI": ((0.80, 0.12, 0.08, 0.00), (1.0, 12.0)),
    "Bronchiectasis": ((0.30, 0.60, 0.05, 0.05), (40.0, 75.0)),
    "Pneumonia": ((0.40, 0.45, 0.10, 0.05), (45.0, 80.0)),
    "Bronchiolitis": ((0.40, 0.30, 0.20, 0.10), (0.3, 2.0)),
    "Asthma": ((0.35, 0.05, 0.50, 0.10), (5.0, 70.0)),
    "LRTI": ((0.60, 0.25, 0.15, 0.00), (1.0, 10.0)),
}
# Cohort mixes, repeated to the number of patients and shuffled: about half COPD, as in ICBHI.
_ICBHI_DIAGNOSIS_MIX = (
    "COPD",
    "Healthy",
    "COPD",
    "URTI",
    "COPD",
    "Bronchiectasis",
    "COPD",
    "Healthy",
    "COPD",
    "Pneumonia",
    "COPD",
    "Bronchiolitis",
    "COPD",
    "Asthma",
    "Healthy",
    "LRTI",
)
# Seven patients in ten use the Litt3200 (4 kHz), against 7 % in ICBHI where the 44.1 kHz AKGC417L
# dominates: this keeps the default folder small, and all four devices still appear.
_ICBHI_DEVICE_MIX = (
    "Litt3200",
    "AKGC417L",
    "Litt3200",
    "Litt3200",
    "Meditron",
    "Litt3200",
    "Litt3200",
    "LittC2SE",
    "Litt3200",
    "Litt3200",
)
ICBHI_LOCATIONS = ("Tc", "Al", "Ar", "Pl", "Pr", "Ll", "Lr")


def _trim(value: float, places: int = 3) -> str:
    # The real tables write decimals without trailing zeros: "0.036", "2.45", "11.15", "28.5".
    return f"{value:.{places}f}".rstrip("0").rstrip(".")


def _icbhi_demographics(pid: int, diagnosis: str, rng: np.random.Generator) -> str:
    """One row: id, age, sex, adult BMI, child weight (kg), child height (cm); NA where not measured."""
    age = float(rng.uniform(*ICBHI_DIAGNOSES[diagnosis][1]))
    age = round(age) if age >= 3 else round(age, 2)
    sex = "F" if rng.random() < 0.5 else "M"
    if age >= 18:
        fields = [_trim(rng.uniform(18, 35), 2), "NA", "NA"]
    else:
        height = 50 + 6.5 * age + rng.normal(0, 4)
        weight = 3.5 + 2.6 * age + rng.normal(0, 1.5)
        fields = ["NA", _trim(weight, 1), f"{height:.0f}"]
    return "\t".join([str(pid), f"{age:g}", sex, *fields])


def _icbhi_split(diagnoses: list[str], rng: np.random.Generator) -> list[str]:
    """About 60/40 train/test by patient, stratified by diagnosis."""
    sides = [""] * len(diagnoses)
    for diagnosis in sorted(set(diagnoses)):
        members = [i for i, d in enumerate(diagnoses) if d == diagnosis]
        for rank, i in enumerate(rng.permutation(members)):
            # Every 5 patients of a diagnosis: 3 train, 2 test; a lone patient trains.
            sides[i] = "test" if rank % 5 in (1, 3) else "train"
    return sides


def write_icbhi(
    root: str | os.PathLike,
    n_patients: int = 24,
    seed: int = 0,
    recordings_per_patient: int = 2,
    cycles_per_recording: tuple[int, int] = (4, 7),
    difficulty: Difficulty = DIFFICULTY,
) -> Path:
    """Write a simulated ICBHI 2017 database under ``root`` and return ``root``.

    Layout: ``ICBHI_final_database/<pid>_<idx>_<loc>_<sc|mc>_<device>.wav`` + ``.txt`` (one cycle per
    line, ``start<TAB>end<TAB>crackles<TAB>wheezes``), ``ICBHI_challenge_train_test.txt``,
    ``ICBHI_Challenge_diagnosis.txt``, ``ICBHI_Challenge_demographic_information.txt`` and
    ``SIMULATED.json``. Each patient has a diagnosis that sets how likely each cycle class is, one
    device at its real sample rate (Litt3200 4 kHz, the others 44.1 kHz), and
    ``recordings_per_patient`` recordings of 4–7 cycles each. The split is patient-wise 60/40 except
    for one patient whose recordings fall on both sides, like patients 156 and 218 of the real file.
    Each recording's noise SNR is drawn from ``difficulty.noise_snr_db``.
    The defaults give ~260 cycles, ~15 MB, in a second or two.
    """
    parameters = {
        "n_patients": n_patients,
        "recordings_per_patient": recordings_per_patient,
        "cycles_per_recording": list(cycles_per_recording),
        "difficulty": asdict(difficulty),
    }
    out = _Writer(root, "icbhi", seed, parameters)
    rng = np.random.default_rng(seed)
    pids = [101 + i for i in range(n_patients)]
    diagnoses = [str(d) for d in rng.permutation(np.resize(_ICBHI_DIAGNOSIS_MIX, n_patients))]
    devices = [str(d) for d in rng.permutation(np.resize(_ICBHI_DEVICE_MIX, n_patients))]
    sides = _icbhi_split(diagnoses, rng)
    straddler = next((i for i, s in enumerate(sides) if s == "train"), None) if recordings_per_patient > 1 else None

    split_rows, demographic_rows, recordings = [], [], {}
    for i, (pid, diagnosis, device) in enumerate(zip(pids, diagnoses, devices)):
        demographic_rows.append(_icbhi_demographics(pid, diagnosis, rng))
        mode = "mc" if rng.random() < 0.6 else "sc"
        locations = rng.choice(ICBHI_LOCATIONS, size=recordings_per_patient, replace=False)
        # Simultaneous (mc) recordings share one recording index; sequential ones get one each.
        shared_index = f"{rng.integers(1, 4)}b{rng.integers(1, 5)}"
        sample_rate = DEVICES[device].sample_rate
        for j, location in enumerate(locations):
            name = f"{pid}_{shared_index if mode == 'mc' else f'{j + 1}b1'}_{location}_{mode}_{device}"
            n_cycles = int(rng.integers(cycles_per_recording[0], cycles_per_recording[1] + 1))
            kinds = [str(k) for k in rng.choice(ICBHI_CLASSES, size=n_cycles, p=ICBHI_DIAGNOSES[diagnosis][0])]
            recording_snr = float(rng.uniform(*difficulty.noise_snr_db))
            waveform, cycles = simulate_recording(
                kinds,
                sample_rate,
                rng,
                device,
                recording_snr,
                cycle_duration_s=(1.4, 2.6),
                lead_in_s=round(float(rng.uniform(0.0, 0.3)), 3),
                difficulty=difficulty,
            )
            split = "test" if i == straddler and j == recordings_per_patient - 1 else sides[i]
            out.wav(f"ICBHI_final_database/{name}.wav", waveform, sample_rate)
            out.text(
                f"ICBHI_final_database/{name}.txt",
                [f"{_trim(c.start_s)}\t{_trim(c.end_s)}\t{int(c.crackles)}\t{int(c.wheezes)}" for c in cycles],
            )
            split_rows.append(f"{name}\t{split}")
            recordings[name] = {
                "patient": pid,
                "diagnosis": diagnosis,
                "device": device,
                "sample_rate": sample_rate,
                "split": split,
                "snr_db": recording_snr,
                "cycles": [{**_cycle_truth(c), "crackles": int(c.crackles), "wheezes": int(c.wheezes)} for c in cycles],
            }

    # Line endings as in the official tables: CRLF for the split and demographics, LF for diagnoses.
    out.text("ICBHI_challenge_train_test.txt", split_rows, newline="\r\n")
    out.text("ICBHI_Challenge_diagnosis.txt", [f"{p}\t{d}" for p, d in zip(pids, diagnoses)])
    out.text("ICBHI_Challenge_demographic_information.txt", demographic_rows, newline="\r\n")
    return out.close(recordings)


# ---------------------------------------------------------------------------------------------
# SPRSound (BioCAS 2022)
# ---------------------------------------------------------------------------------------------

#: Event type written in the JSON for each simulated cycle kind.
SPRSOUND_EVENT_TYPES = {
    "normal": "Normal",
    "fine_crackle": "Fine Crackle",
    "coarse_crackle": "Coarse Crackle",
    "wheeze": "Wheeze",
    "rhonchi": "Rhonchi",
    "stridor": "Stridor",
    "both": "Wheeze+Crackle",
}
_CAS = {"Wheeze", "Rhonchi", "Stridor"}
_DAS = {"Fine Crackle", "Coarse Crackle"}

#: Per record label: its probability, the weights of the cycle kinds filling the record, and the kinds
#: of which one is placed in the first two cycles so the record surely earns its label. Skewed like the
#: real train set (67 % Normal records, 78 % Normal events) but with more of the rare CAS and coarse
#: crackles, so that a tiny model sees each class.
SPRSOUND_RECORDS: dict[str, tuple[float, dict[str, float], tuple[str, ...]]] = {
    "Normal": (0.45, {"normal": 1.0}, ()),
    "DAS": (0.20, {"normal": 0.35, "fine_crackle": 0.42, "coarse_crackle": 0.23}, ("fine_crackle", "coarse_crackle")),
    "CAS": (0.15, {"normal": 0.35, "wheeze": 0.35, "rhonchi": 0.17, "stridor": 0.13}, ("wheeze", "rhonchi", "stridor")),
    "CAS & DAS": (0.10, {"normal": 0.2, "fine_crackle": 0.25, "wheeze": 0.2, "rhonchi": 0.1, "both": 0.25}, ("both",)),
    "Poor Quality": (0.10, {"normal": 1.0}, ()),
}


def record_label(event_types: Sequence[str]) -> str:
    """The record label SPRSound's rules give a record with these event types (Poor Quality aside)."""
    types = set(event_types)
    cas = bool(types & _CAS) or "Wheeze+Crackle" in types
    das = bool(types & _DAS) or "Wheeze+Crackle" in types
    return {(False, False): "Normal", (True, False): "CAS", (False, True): "DAS", (True, True): "CAS & DAS"}[(cas, das)]


def _draw(weights: dict[str, float], rng: np.random.Generator, size: int) -> list[str]:
    names = list(weights)
    p = np.array([weights[k] for k in names])
    return [str(k) for k in rng.choice(names, size=size, p=p / p.sum())]


def _sprsound_kinds(label: str, rng: np.random.Generator, slots: int = 16) -> list[str]:
    """Cycle kinds for a record meant to carry ``label`` (more than fit: the record length decides)."""
    _, weights, sure = SPRSOUND_RECORDS[label]
    kinds = _draw(weights, rng, slots)
    if sure and not set(kinds[:2]) & set(sure):
        kinds[int(rng.integers(2))] = _draw({k: weights[k] for k in sure}, rng, 1)[0]
    return kinds


def write_sprsound(
    root: str | os.PathLike,
    n_patients: int = 160,
    seed: int = 0,
    records_per_patient: int = 2,
    inter_test_fraction: float = 0.25,
    difficulty: Difficulty = DIFFICULTY,
) -> Path:
    """Write a simulated SPRSound (BioCAS 2022) release under ``root/BioCAS2022`` and return ``root``.

    Records are 8 kHz 16-bit WAVs of 9.216 s or 15.36 s (the two real lengths) named
    ``patientID_age_gender_location_recID``, with a JSON each:
    ``{"record_annotation": ..., "event_annotation": [{"start": "ms", "end": "ms", "type": ...}]}``.
    Events are breath cycles separated by pauses; one record in ten lists them out of order, as some
    real files do. Each record's noise SNR is drawn from ``difficulty.noise_snr_db``, except Poor
    Quality records: those are drowned in noise (-3 to 3 dB) and clipped, and list no events.
    Train patients have ``records_per_patient`` records in ``train2022_*``; every third of them has
    one more record in ``test2022_json/intra_test_json`` (seen patients); ``inter_test_fraction`` of
    the patients have one record each in ``inter_test_json`` only (unseen patients). Test audio goes
    to ``test2022_wav``. The defaults give 320 records, ~1,650 events, ~55 MB.
    """
    parameters = {
        "n_patients": n_patients,
        "records_per_patient": records_per_patient,
        "inter_test_fraction": inter_test_fraction,
        "difficulty": asdict(difficulty),
    }
    out = _Writer(root, "sprsound", seed, parameters)
    rng = np.random.default_rng(seed)
    sample_rate = DEVICES["Yunting"].sample_rate
    n_inter = max(1, round(n_patients * inter_test_fraction))
    patient_ids = rng.choice(np.arange(40_000_000, 70_000_000), size=n_patients, replace=False)
    patients = [(int(p), round(float(rng.uniform(0.2, 16.0)), 1), int(rng.integers(2))) for p in patient_ids]
    train_patients, inter_patients = patients[: n_patients - n_inter], patients[n_patients - n_inter :]

    plan = [(p, "train") for p in train_patients for _ in range(records_per_patient)]
    plan += [(p, "intra_test") for p in train_patients[::3]]
    plan += [(p, "inter_test") for p in inter_patients]
    record_ids = rng.choice(np.arange(1, 10 * len(plan)), size=len(plan), replace=False)
    labels = list(SPRSOUND_RECORDS)
    label_p = np.array([SPRSOUND_RECORDS[k][0] for k in labels])

    recordings = {}
    for ((pid, age, gender), split), rec_id in zip(plan, record_ids):
        name = f"{pid}_{age:.1f}_{gender}_p{rng.integers(1, 5)}_{rec_id}"
        target = str(rng.choice(labels, p=label_p))
        poor = target == "Poor Quality"
        # Poor Quality: the breaths are there but buried in noise and clipped, so nothing is annotated.
        snr_db = float(rng.uniform(-3.0, 3.0) if poor else rng.uniform(*difficulty.noise_snr_db))
        duration_s = 15.36 if rng.random() < 0.15 else 9.216
        waveform, cycles = simulate_recording(
            _sprsound_kinds(target, rng),
            sample_rate,
            rng,
            "Yunting",
            snr_db,
            cycle_duration_s=(0.9, 1.8),
            pause_s=(0.1, 0.7),
            lead_in_s=round(float(rng.uniform(0.0, 0.2)), 3),
            duration_s=duration_s,
            peak=float(rng.uniform(2.5, 4.0)) if poor else 0.7,
            difficulty=difficulty,
        )
        # Cycle bounds are whole milliseconds, so these strings are the exact ground truth.
        events = (
            []
            if poor
            else [
                {
                    "start": f"{c.start_s * 1000:.0f}",
                    "end": f"{c.end_s * 1000:.0f}",
                    "type": SPRSOUND_EVENT_TYPES[c.kind],
                }
                for c in cycles
            ]
        )
        if len(events) > 1 and rng.random() < 0.1:
            events = events[-1:] + events[:-1]
        label = target if poor else record_label([e["type"] for e in events])
        assert label == target, (name, label, target)  # the recipe guarantees the record's label

        wav_dir = "train2022_wav" if split == "train" else "test2022_wav"
        json_dir = "train2022_json" if split == "train" else f"test2022_json/{split}_json"
        out.wav(f"BioCAS2022/{wav_dir}/{name}.wav", waveform, sample_rate)
        # The real JSON files are one line, with Python's default separators and no final newline.
        out.text(
            f"BioCAS2022/{json_dir}/{name}.json",
            [json.dumps({"record_annotation": label, "event_annotation": events})],
            final_newline=False,
        )
        recordings[name] = {
            "patient": pid,
            "split": split,
            "record_annotation": label,
            "event_annotation": events,
            "snr_db": snr_db,
            "clipped": poor,
            "cycles": [_cycle_truth(c) for c in cycles],
        }
    return out.close(recordings)
