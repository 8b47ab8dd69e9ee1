"""Pretrained weight files: download on first use, cache, verify, load.

Weights that timm already serves (ImageNet ResNet18 and DeiT) come through ``timm``; this module
handles the files timm does not know, such as the AudioSet AST checkpoint on the Hugging Face Hub.
Each file is described once in :data:`WEIGHTS` (URL, file name, SHA-256 when known) and lives in
the cache folder ``$RESPKIT_WEIGHTS`` or ``~/.cache/respkit/weights``.

A download streams to ``<name>.part`` in the cache folder and is renamed into place only after
its checksum matched, so an interrupted run never leaves a truncated file that looks complete.
Without network access, :func:`weight_path` raises an error that says which URL to fetch by hand
and where to put the file.

:func:`load_state_dict_checked` loads a state dict strictly and, when it does not fit, lists the
offending keys (missing, unexpected, wrong shape) instead of PyTorch's first-error message.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn


@dataclass(frozen=True)
class WeightFile:
    """One downloadable weight file.

    Attributes:
        filename: name in the cache folder; ``.safetensors`` or a ``torch.save`` file.
        url: where to download it.
        sha256: expected SHA-256 (hex), or ``None`` where no published checksum is known
            (the computed one is then only reported, not checked).
        source: a human-readable description: what the weights are and where they come from.
    """

    filename: str
    url: str
    sha256: str | None
    source: str


WEIGHTS: dict[str, WeightFile] = {
    "ast_audioset": WeightFile(
        filename="ast-finetuned-audioset-10-10-0.4593.safetensors",
        url="https://huggingface.co/MIT/ast-finetuned-audioset-10-10-0.4593/resolve/main/model.safetensors",
        sha256=None,
        source=(
            "AST (Gong et al., Interspeech 2021) fine-tuned on AudioSet, mAP 0.4593, fstride=tstride=10, "
            "1024 frames; the Hugging Face conversion of the authors' checkpoint (BSD-3-Clause)"
        ),
    ),
}


def cache_dir() -> Path:
    """The weight cache folder: ``$RESPKIT_WEIGHTS`` if set, else ``~/.cache/respkit/weights``."""
    root = os.environ.get("RESPKIT_WEIGHTS")
    return Path(root).expanduser() if root else Path.home() / ".cache" / "respkit" / "weights"


def sha256sum(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _manual_instructions(spec: WeightFile, target: Path) -> str:
    return (
        f"Download {spec.url}\n"
        f"  ({spec.source})\n"
        f"on a machine with network access and copy it to\n  {target}\n"
        "(or point RESPKIT_WEIGHTS at a folder holding that file)."
    )


def weight_path(name: str, download: bool = True) -> Path:
    """Local path of the weight file ``name`` (a key of :data:`WEIGHTS`), downloading it if needed.

    Raises:
        KeyError: ``name`` is not a known weight file.
        FileNotFoundError: the file is not cached and ``download`` is False.
        RuntimeError: the download failed (e.g. offline) or the checksum did not match; the
            message says how to fetch the file by hand.
    """
    if name not in WEIGHTS:
        raise KeyError(f"unknown weight file {name!r}; known: {', '.join(sorted(WEIGHTS))}")
    spec = WEIGHTS[name]
    target = cache_dir() / spec.filename
    if target.is_file():
        return target
    if not download:
        raise FileNotFoundError(f"{name} weights are not cached.\n" + _manual_instructions(spec, target))
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    try:
        with urllib.request.urlopen(spec.url, timeout=60) as response, open(part, "wb") as out:
            shutil.copyfileobj(response, out, length=1 << 20)
    except (urllib.error.URLError, OSError) as err:
        part.unlink(missing_ok=True)
        raise RuntimeError(
            f"could not download the {name} weights ({err}).\n" + _manual_instructions(spec, target)
        ) from err
    digest = sha256sum(part)
    if spec.sha256 is not None and digest != spec.sha256.lower():
        part.unlink()
        raise RuntimeError(
            f"checksum mismatch for {spec.url}: expected {spec.sha256}, got {digest}; the file was "
            "deleted. The server may be serving a different file (or an HTML error page).\n"
            + _manual_instructions(spec, target)
        )
    os.replace(part, target)  # atomic on one file system: the cache never holds a partial file
    print(f"respkit: saved {name} weights to {target} (sha256 {digest})")
    return target


def load_weights(name: str, download: bool = True) -> dict[str, torch.Tensor]:
    """The state dict stored in weight file ``name``, on the CPU."""
    path = weight_path(name, download=download)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path), device="cpu")
    return torch.load(path, map_location="cpu", weights_only=True)


def load_state_dict_checked(
    model: nn.Module, state_dict: dict[str, torch.Tensor], allow_missing: tuple[str, ...] = ()
) -> None:
    """``model.load_state_dict(state_dict)``, strict, with every problem listed in one error.

    Args:
        allow_missing: key prefixes that may be absent from ``state_dict`` and keep the model's
            own (fresh) values, e.g. ``("head.",)`` when the checkpoint's classifier is dropped.

    Raises:
        ValueError: listing missing keys, unexpected keys and shape mismatches.
    """
    own = model.state_dict()
    missing = [k for k in own if k not in state_dict and not k.startswith(allow_missing)]
    unexpected = [k for k in state_dict if k not in own]
    mismatched = [
        f"{k}: checkpoint {tuple(v.shape)} vs model {tuple(own[k].shape)}"
        for k, v in state_dict.items()
        if k in own and v.shape != own[k].shape
    ]
    if missing or unexpected or mismatched:
        lines = [f"state dict does not match {type(model).__name__}:"]
        for title, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", mismatched)):
            if keys:
                lines.append(f"  {title} ({len(keys)}): " + ", ".join(keys))
        raise ValueError("\n".join(lines))
    model.load_state_dict(state_dict, strict=False)  # exactly the allowed keys are absent
