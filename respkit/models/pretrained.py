"""Pretrained weight files: download on first use, cache, verify, load.

Weights that timm already serves (ImageNet ResNet18 and DeiT) come through ``timm``; this module
handles the files timm does not know, such as the AudioSet AST checkpoint on the Hugging Face Hub.
Each file is described once in :data:`WEIGHTS` (URL at a fixed revision, file name, SHA-256 and size)
and lives in :func:`respkit.files.weights_dir` (``$RESPKIT_WEIGHTS``, else ``$RESPKIT_CACHE/weights``).

The download is :func:`respkit.data.download.fetch`: resumed after a cut connection, checked against
the pinned SHA-256 and size, and moved into place only once verified, so the cache never holds a
truncated file that looks complete. Without network access, :func:`weight_path` raises an error that
says which URL to fetch by hand and where to put the file.

:func:`load_state_dict_checked` loads a state dict strictly and, when it does not fit, lists the
offending keys (missing, unexpected, wrong shape) instead of PyTorch's first-error message.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from respkit.files import weights_dir


@dataclass(frozen=True)
class WeightFile:
    """One downloadable weight file.

    Attributes:
        filename: name in the cache folder; ``.safetensors`` or a ``torch.save`` file.
        url: where to download it, at a fixed revision so that its bytes cannot change.
        sha256: expected SHA-256 (hex), or ``None`` where no verified checksum is known
            (the computed one is then only logged, not checked).
        source: a human-readable description: what the weights are and where they come from.
        size: expected size in bytes, or ``None`` where unknown.
    """

    filename: str
    url: str
    sha256: str | None
    source: str
    size: int | None = None


_AST_REVISION = "f826b80d28226b62986cc218e5cec390b1096902"  # the Hub repository's commit holding this file

WEIGHTS: dict[str, WeightFile] = {
    "ast_audioset": WeightFile(
        filename="ast-finetuned-audioset-10-10-0.4593.safetensors",
        url=f"https://huggingface.co/MIT/ast-finetuned-audioset-10-10-0.4593/resolve/{_AST_REVISION}/model.safetensors",
        sha256="ae0c1e2ad4e1381d851fa9bf298ba13ebc9c5a914cdee2dbe427a6583869924d",
        source=(
            "AST (Gong et al., Interspeech 2021) fine-tuned on AudioSet, mAP 0.4593, fstride=tstride=10, "
            "1024 frames; the Hugging Face conversion of the authors' checkpoint (BSD-3-Clause)"
        ),
        size=346_404_948,
    ),
}


def _manual_instructions(spec: WeightFile, target: Path) -> str:
    return (
        f"Download {spec.url}\n"
        f"  ({spec.source})\n"
        f"on a machine with network access and copy it to\n  {target}\n"
        "(or point RESPKIT_WEIGHTS at a folder holding that file)."
    )


def weight_path(name: str, download: bool = True, folder: str | Path | None = None) -> Path:
    """Local path of the weight file ``name`` (a key of :data:`WEIGHTS`), downloading it if needed.

    ``folder`` replaces :func:`respkit.files.weights_dir` (``python -m respkit download ast-audioset --dest``).

    Raises:
        KeyError: ``name`` is not a known weight file.
        FileNotFoundError: the file is not cached and ``download`` is False.
        respkit.data.download.DownloadError (a RuntimeError): the download failed (e.g. offline) or the
            checksum did not match; the message says how to fetch the file by hand.
    """
    from respkit.data.download import Remote, fetch  # imported here: models need the data package for this only

    if name not in WEIGHTS:
        raise KeyError(f"unknown weight file {name!r}; known: {', '.join(sorted(WEIGHTS))}")
    spec = WEIGHTS[name]
    target = Path(folder or weights_dir()) / spec.filename
    if not download:
        if target.is_file():
            return target
        raise FileNotFoundError(f"{name} weights are not cached.\n" + _manual_instructions(spec, target))
    return fetch(Remote(spec.url, spec.sha256, spec.size), target, manual="\n" + _manual_instructions(spec, target))


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
