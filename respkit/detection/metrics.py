"""Event-based and segment-based sound event detection metrics (DCASE; sed_eval's definitions).

The SPRSound event detection track (BioCAS 2024 and 2025, Track 2) ranks systems by **event-based
F-score** and **event-based error rate**; its README (``releases/BioCAS2025/README.md`` of
SJTU-YONGFU-RESEARCH-GRP/SPRSound) names the two metrics and states no onset or offset tolerance. This
module therefore uses the DCASE standard of sed_eval, whose defaults are those of the DCASE 2016-2017
detection tasks (A. Mesaros, T. Heittola, T. Virtanen, "Metrics for polyphonic sound event detection",
Applied Sciences 6(6):162, 2016):

- an estimated event *hits* a reference event of the same label when its onset is within
  ``t_collar = 0.2`` s of the reference onset and its offset within ``max(t_collar, 0.5 · reference
  length)`` of the reference offset (``evaluate_offset=False``: onsets only);
- hits are paired one-to-one by a **maximum bipartite matching** (sed_eval's default
  ``event_matching_type="optimal"``, its Hopcroft-Karp search done in the same vertex order, so that the
  same events are left unpaired); ``TP`` is the number of pairs;
- **substitutions** ``S``: the unpaired reference events are taken in order, each paired with the first
  unpaired, not yet used estimated event whose onset and offset are valid for it (whatever its label),
  sed_eval's greedy rule; then ``D = N_ref - TP - S`` deletions and ``I = N_sys - TP - S`` insertions;
- micro-averaged ("overall") scores come from the counts summed over all recordings and classes::

      P = TP / N_sys    R = TP / N_ref    F = 2PR / (P + R)    ER = (S + D + I) / N_ref

- class-wise scores match within each class only, so they have no substitutions:
  ``ER_c = (D_c + I_c) / N_ref,c``; the macro averages (``macro_f``, ``macro_er``) are means over the classes
  that have reference events.

Segment-based scores (:func:`segment_based_scores`) compare activity in fixed segments (1 s by
default): a segment is active for a class when any event of the class overlaps it, and per segment
``TP`` = classes active in both, ``S = min(N_ref, N_sys) - TP``, ``D = max(0, N_ref - N_sys)``,
``I = max(0, N_sys - N_ref)`` (sed_eval's ``SegmentBasedMetrics``).

Empty denominators, where sed_eval returns NaN (or divides by ``ε``): precision, recall and F with
nothing to count are 0.0 (sed_eval's ``empty_system_output_handling="zero_score"`` for precision; the
convention of :mod:`respkit.metrics`). ER with no reference events is NaN: insertions into nothing have no
rate, and sed_eval's ``I / ε ≈ I · 4.5e15`` is no number to average. Classes without reference events
are left out of the macro averages, as sed_eval's ``nanmean`` leaves out their NaN F.

Events are ``(onset_s, offset_s, label)`` tuples (:class:`respkit.detection.targets.Event`), matched
recording by recording: every function takes one event list per recording, references and estimates in
the same order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "Counts",
    "event_based_scores",
    "event_counts",
    "scores_from_counts",
    "segment_based_scores",
    "segment_counts",
]

EventList = Sequence[tuple[float, float, str]]
_FREE = object()  # marks an estimated event that starts an alternating path (unmatched)


@dataclass(frozen=True)
class Counts:
    """Event (or segment) counts: references, system outputs, hits and substitutions; they add up."""

    n_ref: int = 0
    n_sys: int = 0
    tp: int = 0
    substitutions: int = 0

    @property
    def deletions(self) -> int:
        return self.n_ref - self.tp - self.substitutions

    @property
    def insertions(self) -> int:
        return self.n_sys - self.tp - self.substitutions

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            self.n_ref + other.n_ref,
            self.n_sys + other.n_sys,
            self.tp + other.tp,
            self.substitutions + other.substitutions,
        )

    def scores(self) -> dict[str, float]:
        """``f``, ``precision``, ``recall``, ``er`` and its three parts (module docstring for empty counts)."""
        precision = self.tp / self.n_sys if self.n_sys else 0.0
        recall = self.tp / self.n_ref if self.n_ref else 0.0
        f = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
        rate = (lambda n: n / self.n_ref) if self.n_ref else (lambda n: math.nan)
        s, d, i = rate(self.substitutions), rate(self.deletions), rate(self.insertions)
        return {
            "f": f,
            "precision": precision,
            "recall": recall,
            "er": s + d + i,
            "substitution_rate": s,
            "deletion_rate": d,
            "insertion_rate": i,
        }


def event_counts(
    references: Sequence[EventList],
    estimates: Sequence[EventList],
    classes: Sequence[str],
    *,
    t_collar: float = 0.2,
    percentage_of_length: float = 0.5,
    evaluate_offset: bool = True,
) -> tuple[Counts, dict[str, Counts]]:
    """Event-based counts summed over recordings: overall (with substitutions) and per class.

    Args:
        references, estimates: one event list per recording, ``(onset_s, offset_s, label)``, labels in
            ``classes``; the order within a list only breaks ties between substitutions (as in sed_eval).
        classes: the class names scored.
        t_collar: onset tolerance in seconds, also the smallest offset tolerance.
        percentage_of_length: the offset tolerance is ``max(t_collar, percentage_of_length · ref length)``.
        evaluate_offset: False scores onsets only.
    """
    valid = _timing_rule(t_collar, percentage_of_length, evaluate_offset)
    overall, per_class = Counts(), {c: Counts() for c in classes}
    for ref, est in _recordings(references, estimates, classes):
        hit = np.array([[r[2] == e[2] and valid(r, e) for e in est] for r in ref], dtype=bool)
        hit = hit.reshape(len(ref), len(est))  # [N_ref, N_sys], also when one of them is empty
        matching = _maximum_matching(hit)  # {ref index: est index}
        ref_left = [j for j in range(len(ref)) if j not in matching]
        paired = set(matching.values())
        est_left = [i for i in range(len(est)) if i not in paired]
        substitutions, used = 0, set()
        for j in ref_left:
            for i in est_left:
                if i not in used and valid(ref[j], est[i]):
                    used.add(i)
                    substitutions += 1
                    break
        overall += Counts(len(ref), len(est), len(matching), substitutions)
        for c in classes:
            ref_c, est_c = [r for r in ref if r[2] == c], [e for e in est if e[2] == c]
            hit_c = np.array([[valid(r, e) for e in est_c] for r in ref_c], dtype=bool)
            per_class[c] += Counts(
                len(ref_c), len(est_c), len(_maximum_matching(hit_c.reshape(len(ref_c), len(est_c))))
            )
    return overall, per_class


def event_based_scores(
    references: Sequence[EventList],
    estimates: Sequence[EventList],
    classes: Sequence[str],
    *,
    t_collar: float = 0.2,
    percentage_of_length: float = 0.5,
    evaluate_offset: bool = True,
) -> dict[str, float]:
    """Event-based F and ER, micro (``f``, ``er``, ...), macro and per class (``f/<class>``, ...).

    The arguments are :func:`event_counts`'s; the keys are :func:`scores_from_counts`'s.
    """
    counts = event_counts(
        references,
        estimates,
        classes,
        t_collar=t_collar,
        percentage_of_length=percentage_of_length,
        evaluate_offset=evaluate_offset,
    )
    return scores_from_counts(*counts)


def segment_counts(
    references: Sequence[EventList],
    estimates: Sequence[EventList],
    classes: Sequence[str],
    *,
    segment: float = 1.0,
    durations: Sequence[float] | None = None,
) -> tuple[Counts, dict[str, Counts]]:
    """Segment-based counts summed over recordings (each active class in each segment counts once).

    Segment ``k`` is ``[k·segment, (k+1)·segment)``; an event ``[on, off)`` makes segments
    ``floor(on / segment)`` to ``ceil(off / segment) - 1`` active. A recording has ``ceil(duration /
    segment)`` segments, where ``duration`` is ``durations[i]`` or, without durations, the last offset of
    its reference and estimated events (sed_eval's default); activity past the end is cut off.
    """
    row = {c: k for k, c in enumerate(classes)}
    pairs = _recordings(references, estimates, classes)
    if durations is not None and len(durations) != len(pairs):
        raise ValueError(f"durations: got {len(durations)} for {len(pairs)} recordings")
    overall, per_class = Counts(), {c: Counts() for c in classes}
    for i, (ref, est) in enumerate(pairs):
        if durations is None:
            duration = max([e[1] for e in (*ref, *est)], default=0.0)
        else:
            duration = durations[i]
        n = math.ceil(duration / segment)  # sed_eval: ceil(duration * 1 / resolution), the same float
        ref_roll, est_roll = _segment_roll(ref, row, segment, n), _segment_roll(est, row, segment, n)  # [n, C]
        tp, n_ref, n_sys = (ref_roll & est_roll).sum(1), ref_roll.sum(1), est_roll.sum(1)  # [n] each
        substitutions = int((np.minimum(n_ref, n_sys) - tp).sum())
        overall += Counts(int(n_ref.sum()), int(n_sys.sum()), int(tp.sum()), substitutions)
        for k, c in enumerate(classes):
            r, e = ref_roll[:, k], est_roll[:, k]
            per_class[c] += Counts(int(r.sum()), int(e.sum()), int((r & e).sum()))
    return overall, per_class


def segment_based_scores(
    references: Sequence[EventList],
    estimates: Sequence[EventList],
    classes: Sequence[str],
    *,
    segment: float = 1.0,
    durations: Sequence[float] | None = None,
) -> dict[str, float]:
    """Segment-based F and ER (1 s segments by default), keyed as :func:`scores_from_counts`."""
    return scores_from_counts(*segment_counts(references, estimates, classes, segment=segment, durations=durations))


def scores_from_counts(overall: Counts, per_class: dict[str, Counts]) -> dict[str, float]:
    """Micro scores (``f``, ``precision``, ``recall``, ``er``, ``substitution_rate``, ``deletion_rate``,
    ``insertion_rate``), ``macro_f`` and ``macro_er`` over the classes with reference events, and
    ``f/<class>``, ``precision/<class>``, ``recall/<class>``, ``er/<class>`` for every class."""
    scores = overall.scores()
    present = [c for c, n in per_class.items() if n.n_ref > 0]
    class_scores = {c: n.scores() for c, n in per_class.items()}
    scores["macro_f"] = float(np.mean([class_scores[c]["f"] for c in present])) if present else 0.0
    scores["macro_er"] = float(np.mean([class_scores[c]["er"] for c in present])) if present else math.nan
    for c, s in class_scores.items():
        for key in ("f", "precision", "recall", "er"):
            scores[f"{key}/{c}"] = s[key]
    return scores


def _timing_rule(t_collar: float, percentage_of_length: float, evaluate_offset: bool):
    """``valid(ref, est)``: the onset (and offset) condition of sed_eval's ``validate_onset/offset``."""
    if t_collar <= 0 or not 0 <= percentage_of_length <= 1:
        raise ValueError(
            f"need t_collar > 0 and 0 <= percentage_of_length <= 1, got {t_collar}, {percentage_of_length}"
        )

    def valid(ref, est) -> bool:
        if math.fabs(ref[0] - est[0]) > t_collar:
            return False
        if not evaluate_offset:
            return True
        return math.fabs(ref[1] - est[1]) <= max(t_collar, percentage_of_length * (ref[1] - ref[0]))

    return valid


def _maximum_matching(hit: np.ndarray) -> dict[int, int]:
    """A maximum matching ``{ref: est}`` of the hits ``hit[ref, est]`` (bool ``[N_ref, N_sys]``).

    Hopcroft-Karp in sed_eval's formulation (``sed_eval.util.event_matching.bipartite_match``, after
    mir_eval, after D. Eppstein's PADS), visiting the vertices in the same order: which maximum matching
    is found decides which events are left for the substitution count, so agreeing with sed_eval on ER
    needs the same one, not just one of the same size. Left side: estimated events, in order of their
    first hit scanning the references in order; each lists its references in order.
    """
    candidates: dict[int, list[int]] = {}
    for j, i in zip(*np.nonzero(hit)):  # row-major: references in order
        candidates.setdefault(int(i), []).append(int(j))
    match: dict[int, int] = {}
    for i, refs in candidates.items():  # a greedy start
        for j in refs:
            if j not in match:
                match[j] = i
                break
    while True:
        # Breadth-first layers of alternating paths from the unmatched estimated events.
        came_from: dict[int, object] = {i: _FREE for i in candidates}  # est -> the ref that reached it
        for i in match.values():
            del came_from[i]
        layer = list(came_from)
        reached_by: dict[int, list[int]] = {}  # ref -> the estimated events of the layer before that reach it
        free_refs: list[int] = []  # unmatched references reached: where augmenting paths end
        while layer and not free_refs:
            reached: dict[int, list[int]] = {}
            for i in layer:
                for j in candidates[i]:
                    if j not in reached_by:
                        reached.setdefault(j, []).append(i)
            layer = []
            for j, ests in reached.items():
                reached_by[j] = ests
                if j in match:
                    layer.append(match[j])
                    came_from[match[j]] = j
                else:
                    free_refs.append(j)
        if not free_refs:
            return match
        for j in free_refs:
            _augment(j, reached_by, came_from, match)


def _augment(j: int, reached_by: dict[int, list[int]], came_from: dict[int, object], match: dict[int, int]) -> bool:
    """Flip an alternating path of the layers that ends at reference ``j``, if one is left (depth first);
    the vertices it passes are used up for this phase."""
    for i in reached_by.pop(j, ()):
        if i in came_from:
            before = came_from.pop(i)
            if before is _FREE or _augment(before, reached_by, came_from, match):  # type: ignore[arg-type]
                match[j] = i
                return True
    return False


def _recordings(references, estimates, classes) -> list[tuple[list, list]]:
    """Pairs of validated per-recording event lists; errors for a flat list, unknown labels, bad spans."""
    if len(references) != len(estimates):
        raise ValueError(f"references and estimates: got {len(references)} and {len(estimates)} recordings")
    known = set(classes)
    pairs = []
    for ref, est in zip(references, estimates):
        for name, events in (("references", ref), ("estimates", est)):
            if isinstance(events, tuple) and len(events) == 3 and isinstance(events[2], str):
                raise ValueError(f"{name} must hold one event list per recording, got a single event {events!r}")
            for e in events:
                if e[2] not in known:
                    raise ValueError(
                        f"{name}: label {e[2]!r} of {tuple(e)!r} is not one of the classes {sorted(known)}"
                    )
                if not (math.isfinite(e[0]) and math.isfinite(e[1]) and e[0] < e[1]):
                    raise ValueError(f"{name}: event {tuple(e)!r} needs finite times with onset < offset")
        pairs.append((list(ref), list(est)))
    return pairs


def _segment_roll(events: list, row: dict[str, int], segment: float, n: int) -> np.ndarray:
    """Bool ``[n_segments, n_classes]``: the segments each class is active in (sed_eval's event roll)."""
    roll = np.zeros((n, len(row)), dtype=bool)
    for onset, offset, label in events:
        first = int(math.floor(onset * 1 / float(segment)))
        stop = int(math.ceil(offset * 1 / float(segment)))
        roll[first:stop, row[label]] = True
    return roll
