"""The simulator measured against the physiology it claims, and its folders read by the real loaders.

Each property is measured from the waveform (FFT peaks, Hilbert envelopes, smoothed loudness) and
compared with the ground truth the simulator returns and with the ranges in REFERENCES.md, so a
generator that drifted from the physiology fails here.
"""

import json
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy import signal

from respkit.data.synthetic import (
    CRACKLES,
    MANIFEST,
    add_noise,
    burst,
    device_filter,
    heart_sounds,
    simulate_cycle,
    vesicular,
    write_icbhi,
    write_sprsound,
)

SR = 16000


def dominant_hz(x: np.ndarray, sample_rate: int, min_hz: float = 0.0) -> float:
    """Frequency of the largest peak of the Hann-windowed, zero-padded magnitude spectrum."""
    n = 1 << int(np.ceil(np.log2(len(x) * 8)))
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x)), n))
    freqs = np.fft.rfftfreq(n, 1 / sample_rate)
    spectrum[freqs < min_hz] = 0
    return float(freqs[np.argmax(spectrum)])


def segment(x: np.ndarray, event, sample_rate: int = SR) -> np.ndarray:
    return x[int(round(event.start_s * sample_rate)) : int(round(event.end_s * sample_rate))]


def band_power_fraction(x: np.ndarray, sample_rate: int, lo: float, hi: float) -> float:
    freqs, psd = signal.welch(x, sample_rate, nperseg=2048)
    return float(psd[(freqs >= lo) & (freqs <= hi)].sum() / psd.sum())


# --- sounds ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["fine_crackle", "coarse_crackle"])
def test_crackle_duration_and_pitch_measured_on_the_burst(kind):
    spec = CRACKLES[kind]
    for duration in spec.duration_s:
        freq = float(np.mean(spec.frequency_hz))
        x = burst(SR, freq, duration)
        # Hilbert envelope of the zero-padded burst; a ±3σ Gaussian is above 2 % of its peak over 93 %
        # of its total span (2·sqrt(2·ln 50)·σ = 5.59σ of 6σ).
        envelope = np.abs(signal.hilbert(np.pad(x, 400)))
        above = np.flatnonzero(envelope > 0.02 * envelope.max())
        measured = (above[-1] - above[0] + 1) / SR
        assert 0.85 * duration <= measured <= 1.02 * duration
        assert (measured < 0.010) if kind == "fine_crackle" else (measured > 0.010)
        # A few-cycle burst has a broad spectrum; its peak still sits near the requested pitch.
        assert abs(dominant_hz(x, SR) - freq) < 0.15 * freq


def test_crackles_in_cycles_follow_timing_and_duration_rules():
    for seed in range(6):
        for kind in ("fine_crackle", "coarse_crackle"):
            x, events = simulate_cycle(kind, SR, seed_or_rng=seed, snr_db=40)
            insp = next(e for e in events if e.kind == "inspiration")
            crackles = [e for e in events if e.kind == kind]
            assert len(crackles) >= CRACKLES[kind].count[0] - 2  # a few may be dropped for overlap
            for e in crackles:
                if kind == "fine_crackle":
                    assert e.duration_s < 0.010 and 500 <= e.frequency_hz <= 800
                    assert e.start_s >= insp.start_s + 0.5 * insp.duration_s and e.end_s <= insp.end_s  # late insp.
                else:
                    assert e.duration_s > 0.010 and 250 <= e.frequency_hz <= 450
                    early_insp = e.end_s <= insp.start_s + 0.45 * insp.duration_s
                    assert early_insp or e.start_s >= insp.end_s  # early inspiratory or expiratory
            # Each annotated crackle is really there: energy in its band peaks inside its time span.
            sos = signal.butter(4, (200, 1200), "bandpass", fs=SR, output="sos")
            envelope = np.abs(signal.hilbert(signal.sosfiltfilt(sos, x)))
            for e in crackles:
                assert segment(envelope, e).max() > 2.5 * np.median(envelope)


@pytest.mark.parametrize("freq", [150.0, 400.0, 750.0])
def test_wheeze_dominant_frequency_matches_request(freq):
    for seed in range(3):
        x, events = simulate_cycle("wheeze", SR, seed_or_rng=seed, frequency_hz=freq)
        (wheeze,) = [e for e in events if e.kind == "wheeze"]
        assert wheeze.duration_s > 0.1
        measured = dominant_hz(segment(x, wheeze), SR)
        assert abs(measured - freq) <= 0.03 * freq, (seed, measured)


def test_rhonchi_are_low_and_stridor_high_and_inspiratory():
    for seed in range(5):
        x, events = simulate_cycle("rhonchi", SR, seed_or_rng=seed)
        (rhonchi,) = [e for e in events if e.kind == "rhonchi"]
        # Heart sounds share the band below 150 Hz but not the rhonchus's length: measure above them.
        assert 90 <= dominant_hz(segment(x, rhonchi), SR, min_hz=60) < 200

        x, events = simulate_cycle("stridor", SR, seed_or_rng=seed)
        (stridor,) = [e for e in events if e.kind == "stridor"]
        insp = next(e for e in events if e.kind == "inspiration")
        assert dominant_hz(segment(x, stridor), SR) > 500
        assert insp.start_s <= stridor.start_s and stridor.end_s <= insp.end_s + 1e-3


def test_breath_envelope_inspiration_louder_and_ie_about_one_to_two():
    for seed in range(5):
        x, events = simulate_cycle("normal", SR, seed_or_rng=seed, snr_db=40)
        insp = next(e for e in events if e.kind == "inspiration")
        exp = next(e for e in events if e.kind == "expiration")
        # Loudness above the heart band, smoothed over 80 ms.
        hp = signal.sosfiltfilt(signal.butter(4, 200, "highpass", fs=SR, output="sos"), x)
        loud = np.sqrt(np.convolve(hp**2, np.ones(int(0.08 * SR)) / int(0.08 * SR), mode="same"))
        inner = slice(int(0.1 * len(x)), int(0.9 * len(x)))
        boundary_s = (inner.start + np.argmin(loud[inner])) / SR
        assert abs(boundary_s - insp.end_s) < 0.15
        ratio = (len(x) / SR - boundary_s) / boundary_s
        assert 1.4 <= ratio <= 2.6
        assert segment(loud, insp).max() > 1.3 * segment(loud, exp).max()


def test_vesicular_energy_mostly_100_to_1000_hz_and_falling_above_200():
    x = vesicular(SR * 20, SR, 0)
    assert band_power_fraction(x, SR, 100, 1000) > 0.8
    freqs, psd = signal.welch(x, SR, nperseg=2048)
    level = lambda lo, hi: psd[(freqs >= lo) & (freqs < hi)].mean()  # noqa: E731
    assert level(400, 800) < level(120, 200) / 4  # at least ~6 dB/octave above 200 Hz
    # The whole normal cycle on a flat microphone keeps that shape (heart sounds add below 150 Hz).
    cycle, _ = simulate_cycle("normal", SR, seed_or_rng=0, snr_db=35)
    assert band_power_fraction(cycle, SR, 100, 1000) > 0.6
    assert band_power_fraction(cycle, SR, 1000, SR / 2) < 0.1


def test_heart_sounds_low_thumps_about_once_a_second():
    x, events = heart_sounds(SR * 10, SR, 3)
    s1 = [e for e in events if e.kind == "heart_s1"]
    gaps = np.diff([e.start_s for e in s1])
    assert 0.55 <= gaps.mean() <= 1.05 and np.ptp(gaps) < 1e-3  # 57–109 beats a minute, steady
    for e in events:
        assert 20 <= dominant_hz(segment(x, e), SR) <= 150


def test_device_colouring_and_snr():
    noise = np.random.default_rng(0).standard_normal(SR * 5)
    high = lambda y: band_power_fraction(y, SR, 1500, SR / 2)  # noqa: E731
    assert high(device_filter(noise, SR, "LittC2SE")) < 0.05 * high(device_filter(noise, SR, "AKGC417L"))
    clean = np.sin(2 * np.pi * 300 * np.arange(SR * 2) / SR)
    for snr in (0.0, 10.0, 30.0):
        noisy = add_noise(clean, snr, 1)
        measured = 10 * np.log10(np.mean(clean**2) / np.mean((noisy - clean) ** 2))
        assert abs(measured - snr) < 0.2


def test_same_seed_same_sound_other_seed_other_sound():
    a, ev_a = simulate_cycle("both", SR, seed_or_rng=7)
    b, ev_b = simulate_cycle("both", SR, seed_or_rng=7)
    c, _ = simulate_cycle("both", SR, seed_or_rng=8)
    assert a.dtype == np.float32 and np.array_equal(a, b) and ev_a == ev_b
    assert a.shape != c.shape or not np.allclose(a, c)
    assert np.abs(a).max() <= 1.0


# --- layouts -----------------------------------------------------------------------------------


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_writers_are_deterministic_safe_and_clean_up(tmp_path):
    for writer in (write_icbhi, write_sprsound):
        a, b = tmp_path / f"{writer.__name__}_a", tmp_path / f"{writer.__name__}_b"
        writer(a, n_patients=4, seed=3)
        writer(b, n_patients=4, seed=3)
        assert _tree(a) == _tree(b)
        # Rewriting a simulator folder is allowed, and leaves exactly what a fresh write would.
        writer(a, n_patients=2, seed=3)
        writer(fresh := tmp_path / f"{writer.__name__}_fresh", n_patients=2, seed=3)
        assert _tree(a) == _tree(fresh) and json.loads((a / MANIFEST).read_text())["complete"]

    user = tmp_path / "user"
    user.mkdir()
    (user / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError):
        write_icbhi(user, n_patients=2)
    assert [p.name for p in user.iterdir()] == ["notes.txt"] and (user / "notes.txt").read_text() == "mine"


def test_one_version_number_names_the_folder_and_the_manifest(tmp_path, monkeypatch):
    """Bumping the simulator's version alone moves the default folder and changes what the manifest records."""
    from respkit.data import locate
    from respkit.data.synthetic import sounds

    monkeypatch.setenv("RESPKIT_CACHE", str(tmp_path / "cache"))
    first = sounds.SIMULATOR_VERSION
    seen = []
    for version in (first, first + 1):
        monkeypatch.setattr(sounds, "SIMULATOR_VERSION", version)
        root = locate.simulated_root(seed=3)
        write_icbhi(root / "icbhi", n_patients=2, seed=3)
        seen.append((root, json.loads((root / "icbhi" / MANIFEST).read_text())["version"]))
    assert seen == [
        (tmp_path / "cache" / "synthetic" / f"v{first}-seed3", first),
        (tmp_path / "cache" / "synthetic" / f"v{first + 1}-seed3", first + 1),
    ]
    assert not hasattr(locate, "SIMULATOR_VERSION")  # no second number to forget to bump


@pytest.fixture(scope="module")
def icbhi_sim(tmp_path_factory) -> Path:
    return write_icbhi(tmp_path_factory.mktemp("sim") / "icbhi", seed=0)


@pytest.fixture(scope="module")
def sprsound_sim(tmp_path_factory) -> Path:
    return write_sprsound(tmp_path_factory.mktemp("sim") / "sprsound", seed=0)


def test_icbhi_files_follow_the_official_format(icbhi_sim):
    manifest = json.loads((icbhi_sim / MANIFEST).read_text())
    cycles = [c for r in manifest["recordings"].values() for c in r["cycles"]]
    counts = Counter((c["crackles"], c["wheezes"]) for c in cycles)
    assert 200 <= len(cycles) <= 400
    assert counts[(0, 0)] > counts[(1, 0)] > counts[(0, 1)] > counts[(1, 1)] >= 5  # ICBHI's order
    assert sum(p.stat().st_size for p in icbhi_sim.rglob("*")) < 25e6

    name = re.compile(r"\d{3}_\d[bp]\d_(Tc|Al|Ar|Pl|Pr|Ll|Lr)_(sc|mc)_(AKGC417L|LittC2SE|Litt3200|Meditron)")
    for rec, truth in manifest["recordings"].items():
        assert name.fullmatch(rec)
        info = sf.info(icbhi_sim / "ICBHI_final_database" / f"{rec}.wav")
        assert info.samplerate == (4000 if rec.endswith("Litt3200") else 44100) and info.subtype == "PCM_16"
        lines = (icbhi_sim / "ICBHI_final_database" / f"{rec}.txt").read_text().splitlines()
        for line, cycle in zip(lines, truth["cycles"], strict=True):
            start, end, crackles, wheezes = line.split("\t")
            assert float(start) == cycle["start_s"] and float(end) == cycle["end_s"]
            assert (int(crackles), int(wheezes)) == (cycle["crackles"], cycle["wheezes"])
            assert re.fullmatch(r"\d+(\.\d{1,3})?", start)
        assert info.duration >= truth["cycles"][-1]["end_s"] - 1e-3
    split_lines = (icbhi_sim / "ICBHI_challenge_train_test.txt").read_bytes().split(b"\r\n")
    sides = Counter(line.split(b"\t")[1] for line in split_lines if line)
    assert 0.5 <= sides[b"train"] / (sides[b"train"] + sides[b"test"]) <= 0.75


def test_icbhi_loader_reads_the_ground_truth(icbhi_sim):
    from respkit.data import ICBHI

    manifest = json.loads((icbhi_sim / MANIFEST).read_text())["recordings"]
    for split in ("train", "test"):
        ds = ICBHI(icbhi_sim, split=split, metadata_only=True)
        expected = [
            c["crackles"] + 2 * c["wheezes"]
            for rec in sorted(manifest)
            if manifest[rec]["split"] == split
            for c in manifest[rec]["cycles"]
        ]
        assert sorted(ds.labels.tolist()) == sorted(expected)
        assert {m.patient for m in ds.meta} == {r["patient"] for r in manifest.values() if r["split"] == split}

    ds = ICBHI(icbhi_sim, split="test", duration=None)
    i = int(np.flatnonzero(ds.labels == 3)[0])
    waveform, label = ds[i]
    cycle = manifest[ds.meta[i].recording]["cycles"][ds.meta[i].index]
    assert label == 3 and cycle["kind"] == "both"
    assert abs(waveform.shape[-1] / ds.sample_rate - (cycle["end_s"] - cycle["start_s"])) < 0.01


def test_sprsound_loader_reads_the_ground_truth(sprsound_sim):
    from respkit.data import SPRSound

    manifest = json.loads((sprsound_sim / MANIFEST).read_text())["recordings"]
    records = Counter(r["record_annotation"] for r in manifest.values())
    events = Counter(e["type"] for r in manifest.values() for e in r["event_annotation"])
    assert records["Normal"] > records["DAS"] and records["Poor Quality"] >= 3
    assert sum(events.values()) >= 300 and events["Normal"] > 0.5 * sum(events.values())
    assert min(events.values()) >= 5 and len(events) == 7

    patients = {}
    for split in ("train", "inter_test", "intra_test"):
        truth = {k: r for k, r in manifest.items() if r["split"] == split}
        ev = SPRSound(sprsound_sim, split=split, level="event", task="1-2")
        got = Counter((m.record, m.annotation, m.start_ms, m.end_ms) for m in ev.meta)
        want = Counter(
            (k, e["type"], float(e["start"]), float(e["end"])) for k, r in truth.items() for e in r["event_annotation"]
        )
        assert got == want
        assert [ev.classes[y] for y in ev.labels] == [m.annotation for m in ev.meta]
        rec = SPRSound(sprsound_sim, split=split, level="record", task="2-2")
        assert Counter(rec.classes[y] for y in rec.labels) == Counter(r["record_annotation"] for r in truth.values())
        patients[split] = {str(r["patient"]) for r in truth.values()}
        assert set(rec.groups.tolist()) == patients[split]
    assert not patients["inter_test"] & patients["train"] and patients["intra_test"] <= patients["train"]

    for stem, truth in manifest.items():
        folder = "train2022_wav" if truth["split"] == "train" else "test2022_wav"
        info = sf.info(sprsound_sim / "BioCAS2022" / folder / f"{stem}.wav")
        assert (info.samplerate, info.subtype) == (8000, "PCM_16") and info.duration in (9.216, 15.36)
        if truth["record_annotation"] == "Poor Quality":
            assert truth["event_annotation"] == []
            audio, _ = sf.read(sprsound_sim / "BioCAS2022" / folder / f"{stem}.wav")
            assert np.mean(np.abs(audio) > 0.99) > 0.001  # clipped
    ev = SPRSound(sprsound_sim, split="train", level="event")
    waveform, _ = ev[0]
    assert abs(waveform.shape[-1] / 8000 - (ev.meta[0].end_ms - ev.meta[0].start_ms) / 1000) < 0.01
