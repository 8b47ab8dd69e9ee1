"""Looking inside models: feature-map hooks and the Fourier analysis of feature maps.

Lung-SRAD's argument is spectral: the self-attention of AST, which averages over all tokens, behaves as a
low-pass filter on the feature maps of all its patch tokens, while a state-space model (DASS) keeps more
mid-to-high *spatial* frequencies (over the patch grid, not audio frequencies). The measurement is Park & Kim's
relative log amplitude ("How Do Vision Transformers Work?", ICLR 2022): for a feature map
``X [B, C, H, W]``

    A(k_h, k_w) = mean_{b, c} log |FFT2(X[b, c])(k_h, k_w)|         (spectrum centred with fftshift)
    Delta(f)    = A(diagonal point at frequency f) - A(0, 0),   f from 0 (centre) to 1 (corner)

A curve that falls steeply means the map is smooth (low-pass); a flat curve means high frequencies
are kept. ``f`` is normalised so that 1 is the Nyquist frequency (pi) along each axis. Park & Kim
read the half diagonal towards the bottom-right, which for even sizes stops one bin before Nyquist;
the amplitude spectrum of a real map is point-symmetric, so we read it towards the top-left corner,
where fftshift puts the Nyquist bin, and include it.

Tools:
- :class:`FeatureRecorder`: a context manager that records the outputs of named modules.
- :func:`tokens_to_grid`: AST tokens ``[B, prefix + H*W, D]`` -> maps ``[B, D, H, W]``.
- :func:`relative_log_amplitude`: the curve above.
- :func:`spectral_profile`: record some layers on a batch and return one curve per layer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

__all__ = ["FeatureRecorder", "relative_log_amplitude", "spectral_profile", "tokens_to_grid"]


class FeatureRecorder:
    """Record the outputs of some of ``model``'s modules during forward passes.

    ``modules`` is a list of names (as in ``model.named_modules()``) or a predicate
    ``(name, module) -> bool``. Inside the ``with`` block, ``recorder.outputs[name]`` holds the last
    output of each module (the first element when a module returns a tuple), detached unless
    ``detach=False``. The hooks are removed on exit.

    >>> with FeatureRecorder(model, ["stages.2.blocks.3"]) as rec:
    ...     model(x)
    >>> rec.outputs["stages.2.blocks.3"].shape
    """

    def __init__(
        self,
        model: nn.Module,
        modules: Sequence[str] | Callable[[str, nn.Module], bool],
        detach: bool = True,
    ) -> None:
        named = dict(model.named_modules())
        if callable(modules):
            self.names = [n for n, m in named.items() if modules(n, m)]
        else:
            unknown = [n for n in modules if n not in named]
            if unknown:
                raise KeyError(f"no modules named {unknown} in {type(model).__name__}")
            self.names = list(modules)
        self._modules = {n: named[n] for n in self.names}
        self.detach = detach
        self.outputs: dict[str, Tensor] = {}
        self._handles: list = []

    def _hook(self, name: str) -> Callable:
        def hook(module: nn.Module, inputs: tuple, output) -> None:
            out = output[0] if isinstance(output, (tuple, list)) else output
            self.outputs[name] = out.detach() if self.detach else out

        return hook

    def __enter__(self) -> FeatureRecorder:
        self.outputs = {}
        self._handles = [m.register_forward_hook(self._hook(n)) for n, m in self._modules.items()]
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []


def tokens_to_grid(tokens: Tensor, grid_hw: tuple[int, int], n_prefix_tokens: int) -> Tensor:
    """Drop the prefix tokens (AST: cls + distillation = 2) and fold the patches back into a map.

    ``tokens [B, n_prefix + H*W, D]`` (patches in row-major order) -> ``[B, D, H, W]``.
    """
    height, width = grid_hw
    patches = tokens[:, n_prefix_tokens:]  # [B, H*W, D]
    if patches.shape[1] != height * width:
        raise ValueError(f"{patches.shape[1]} patch tokens do not fill a {height} x {width} grid")
    return patches.transpose(1, 2).reshape(tokens.shape[0], -1, height, width)


def relative_log_amplitude(feature_map: Tensor, eps: float = 1e-6) -> tuple[Tensor, Tensor]:
    """Park & Kim's relative log amplitude of ``feature_map [B, C, H, W]`` along the diagonal.

    Returns ``(freqs, values)``, both ``[n]`` with ``n = min(H // 2, W // 2) + 1``: ``freqs`` from 0 to
    1 (1 = Nyquist on both axes for even sizes), ``values[0] == 0``.
    """
    x = feature_map.detach().double()
    height, width = x.shape[-2:]
    spectrum = torch.fft.fftshift(torch.fft.fft2(x), dim=(-2, -1))  # centre (H//2, W//2) = frequency 0
    log_amp = torch.log(spectrum.abs() + eps).mean(dim=(0, 1))  # [H, W]
    n = min(height // 2, width // 2) + 1
    steps = torch.linspace(0, 1, n, dtype=torch.float64)
    rows = height // 2 - torch.round(steps * (height // 2)).long()  # from the centre to the top-left corner
    cols = width // 2 - torch.round(steps * (width // 2)).long()
    values = log_amp[rows, cols]
    freqs = (height // 2 - rows).double() / (height / 2)
    return freqs.float(), (values - values[0]).float()


@torch.no_grad()
def spectral_profile(
    model: nn.Module,
    inputs: Tensor,
    layers: Sequence[str],
    to_map: Callable[[Tensor], Tensor] | None = None,
) -> dict[str, tuple[Tensor, Tensor]]:
    """Relative log-amplitude curves of the outputs of ``layers`` on one batch (model in eval mode).

    ``to_map`` turns a recorded output into ``[B, C, H, W]``: ``lambda t: t.permute(0, 3, 1, 2)``
    for DASS's channels-last maps, ``functools.partial(tokens_to_grid, grid_hw=..., n_prefix_tokens=2)``
    for AST tokens; by default outputs must already be ``[B, C, H, W]``.
    """
    was_training = model.training
    model.eval()
    try:
        with FeatureRecorder(model, layers) as recorder:
            model(inputs)
    finally:
        model.train(was_training)
    convert = to_map or (lambda t: t)
    return {name: relative_log_amplitude(convert(recorder.outputs[name])) for name in layers}
