"""An on-disk cache of computed features, so that fbanks or MFCCs are computed once per item.

An entry's key is a hash of everything that decides its value:

- the feature config, :func:`feature_key`: the class and ``extra_repr()`` of the transform and of each of
  its submodules, their plain-valued attributes (torchaudio transforms define no ``extra_repr``, so
  ``hop_length`` and friends are read from the attributes) and a digest of their buffers;
- the source, given by the dataset: absolute file path, size, mtime, segment start/end and the
  waveform recipe (rate, length, padding).

Change any of them and the key changes, so a stale entry is never served. Only deterministic transforms
belong in front of a cache: a random augmentation would be frozen at its first draw.

Entries read or computed in this process are also kept in memory, up to ``memory_bytes`` (1 GiB by
default), and served from there as copies: an epoch over a few thousand items then reads no file at all
(from disk, ``torch.load`` took about as long per item as a small model's training step on CPU).

Writes are atomic (:func:`respkit.files.atomic_write`: a temporary file in the same folder, then
``os.replace``), so a crash or two DataLoader workers writing the same entry never leave half a file;
an entry that cannot be read is recomputed and rewritten with a warning. The chapters keep theirs in
:func:`respkit.files.features_dir`.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from respkit.files import atomic_write

_PLAIN = (bool, int, float, str, type(None))


def feature_key(module: nn.Module) -> str:
    """Text that names ``module``'s feature config exactly (see the module docstring)."""
    parts = []
    for name, sub in module.named_modules():
        attrs = {k: v for k, v in vars(sub).items() if not k.startswith("_") and k != "training" and _is_plain(v)}
        parts.append(
            f"{name}:{type(sub).__module__}.{type(sub).__qualname__}({sub.extra_repr()}){sorted(attrs.items())}"
        )
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    parts.append(f"state:{digest.hexdigest()}")
    return "\n".join(parts)


def cache_key(*parts: str) -> str:
    """Hash of the given strings (feature config, source description, ...) as a file-name-safe key."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode())
        digest.update(b"\0")  # keeps ("ab", "c") apart from ("a", "bc")
    return digest.hexdigest()


class FeatureCache:
    """Tensors stored under ``root``, one file per key (``root/ab/abcdef....pt``), and in memory.

    The in-memory copies stop growing at ``memory_bytes`` (later entries are then read from disk each
    time); ``memory_bytes=0`` keeps none. A DataLoader worker holds its own copies.
    """

    def __init__(self, root: str | Path, memory_bytes: int = 2**30) -> None:
        self.root = Path(root)
        self.memory_bytes = memory_bytes
        self._memory: dict[str, torch.Tensor] = {}
        self._held = 0

    def __repr__(self) -> str:
        return f"FeatureCache({str(self.root)!r})"

    def path(self, key: str) -> Path:
        """Where the entry for ``key`` lives (two-character sub-folders keep folders small)."""
        return self.root / key[:2] / f"{key}.pt"

    def get_or_compute(self, key: str, compute: Callable[[], torch.Tensor]) -> torch.Tensor:
        """Return the stored tensor for ``key``, or compute, store and return it."""
        if key in self._memory:
            return self._memory[key].clone()  # a copy: whoever receives it may change it in place
        path = self.path(key)
        value = None
        if path.exists():
            try:
                value = torch.load(path, weights_only=True)
            except Exception as err:  # any unreadable entry is rebuilt, whatever the reason
                warnings.warn(f"feature cache entry {path} is unreadable ({err}); recomputing it", stacklevel=2)
        if value is None:
            value = compute()
            self._write(path, value.detach().cpu())
        self._remember(key, value)
        return value

    def _remember(self, key: str, value: torch.Tensor) -> None:
        size = value.numel() * value.element_size()
        if self._held + size <= self.memory_bytes:
            self._memory[key] = value.detach().cpu().clone()
            self._held += size

    def _write(self, path: Path, value: torch.Tensor) -> None:
        # clone: a view would save its whole base tensor. Not durable (no fsync, ~10 ms an entry):
        # an entry lost to a crash is recomputed, and a damaged one is detected on read.
        atomic_write(path, lambda tmp: torch.save(value.clone(), tmp), durable=False)


def _is_plain(value: object) -> bool:
    if isinstance(value, (tuple, list)):
        return all(_is_plain(v) for v in value)
    return isinstance(value, _PLAIN)
