"""The selective scan of Mamba (S6), as a readable reference and as a fast pure-PyTorch scan.

The selective state-space layer (Gu & Dao, "Mamba", 2023, Alg. 2) maps an input sequence ``u`` to an
output ``y`` through a hidden state ``h`` of ``state`` numbers per channel, with input-dependent step
sizes ``delta`` and input-dependent projections ``B`` and ``C``. For every batch item ``b``, channel ``d``
and state index ``n`` (zero-order-hold discretisation, the "simplified" B of the Mamba paper)::

    delta_t  = softplus(delta_t + delta_bias)            (only if delta_softplus)
    dA_t     = exp(delta_t * A[d, n])                    decay in (0, 1] for A < 0
    dBu_t    = delta_t * B_t[n] * u_t
    h_t      = dA_t * h_{t-1} + dBu_t,   h_{-1} = 0      (1)
    y_t      = sum_n C_t[n] * h_t[n] + D[d] * u_t
    out_t    = y_t * silu(z_t)                           (only if z is given)

Shapes follow ``mamba_ssm.ops.selective_scan_interface.selective_scan_fn``: ``u, delta, z`` are
``[batch, dim, L]``; ``A`` is ``[dim, state]`` (real); ``B, C`` are ``[batch, state, L]`` or, grouped,
``[batch, groups, state, L]`` where channel ``d`` uses group ``d // (dim // groups)`` (VMamba's SS2D
stacks its K = 4 scan directions as ``dim = K * d_inner`` with one group per direction); ``D`` and
``delta_bias`` are ``[dim]``. Like mamba's kernel, the arithmetic is done in float32 (float64 stays
float64) and the output is returned in the dtype of ``u``.

:func:`selective_scan_ref` is the definition: a Python loop over time that reads as (1).

:func:`selective_scan` is the fast version. Recurrence (1) is first-order and linear, so it can be
solved by *recursive doubling* (a work-efficient parallel scan). Pairing neighbours ``(2k, 2k+1)``::

    h_{2k+1} = (a_{2k+1} a_{2k}) h_{2k-1} + (a_{2k+1} b_{2k} + b_{2k+1})              (2)

is again recurrence (1) on the odd positions, with half the length; solve it recursively, then fill in
the even positions with ``h_{2k} = a_{2k} h_{2k-1} + b_{2k}``. Each level costs a few element-wise ops
on half the previous length, so the total work is O(L) tensor elements with only O(log L) Python
calls. Every multiplier in (2) is a product of decays in (0, 1], so nothing can overflow; the tempting
closed form ``h_t = exp(S_t) * sum_s exp(-S_s) dBu_s`` with ``S_t = sum_{s<=t} delta_s A`` is avoided
because ``exp(-S_s)`` overflows float32 after a few dozen steps. (A Mamba-2-style chunked "segsum"
with pairwise decays ``exp(S_t - S_s)`` is also safe, but Mamba-1 decays differ per channel *and* per
state, so its intra-chunk matrices cost O(L * chunk) exponentials per state instead of O(L): slower
on CPU, which is what this file is for.)

Three details make it fast in practice. Time stays on the last axis, as the inputs come: the even and
odd steps are then stride-2 views, which the doubling reads about 1.5x slower than contiguous rows, but a
time-major layout (``[L, ...]``) would need three transposes in and out of it, and on a CPU those cost
more than the whole scan. The backward pass is written by hand (:class:`_LinearScan`): the gradient of a
linear recurrence is the same recurrence run backwards in time, so it is one more doubling scan, instead
of autograd's trip back through every slice. And the sequence is processed in blocks of about
``_BLOCK_ELEMENTS`` state elements, carrying ``h`` from block to block, with everything from the bias to
the gate done per block (:func:`_scan_block`): on a CPU the intermediates then stay in cache and their
memory is reused from block to block; on a GPU the blocks are much longer, since there the cost of a
block is its kernel launches.

On CUDA, when ``mamba_ssm`` is installed, :func:`selective_scan` calls its fused kernel instead.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

__all__ = ["linear_scan", "selective_scan", "selective_scan_ref", "selective_scan_torch"]

# Largest [batch, dim, state, block] tensor the fast scan builds at once: 1 MiB in float32 on the CPU, to
# stay in cache; 512 MiB on a GPU, where every block costs a few hundred kernel launches and cache matters less.
# A block has at least _MIN_BLOCK steps, so that large states do not cut the sequence into slivers.
_BLOCK_ELEMENTS = 2**18
_GPU_BLOCK_ELEMENTS = 2**27
_MIN_BLOCK = 256


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """float32 for half-precision inputs (as mamba's kernel does), float64 stays float64."""
    return torch.promote_types(dtype, torch.float32)


def _broadcast_groups(x: Tensor, dim: int) -> Tensor:
    """B or C as ``[batch, groups, 1, state, L]``, ready to broadcast against ``[batch, groups, dim/groups, ...]``."""
    if x.dim() == 3:  # [b, n, L]: one group
        x = x.unsqueeze(1)
    groups = x.shape[1]
    if dim % groups:
        raise ValueError(f"dim {dim} is not a multiple of the {groups} groups of B/C")
    return x.unsqueeze(2)  # [b, g, 1, n, L]


def _prepare(u: Tensor, delta: Tensor, A: Tensor, delta_bias: Tensor | None, delta_softplus: bool):
    """Upcast, add the bias and apply softplus: the shared front of both scans."""
    dtype = _compute_dtype(u.dtype)
    u, delta, A = u.to(dtype), delta.to(dtype), A.to(dtype)
    if delta_bias is not None:
        delta = delta + delta_bias.to(dtype)[:, None]
    if delta_softplus:
        delta = F.softplus(delta)
    return u, delta, A


def _finish(y: Tensor, u: Tensor, D: Tensor | None, z: Tensor | None, out_dtype: torch.dtype) -> Tensor:
    """``y + D u``, gated by ``silu(z)``, cast back to the input dtype."""
    if D is not None:
        y = torch.addcmul(y, D.to(y.dtype)[:, None], u)
    if z is not None:
        y = y * F.silu(z.to(y.dtype))
    return y.to(out_dtype)


def selective_scan_ref(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor | None = None,
    z: Tensor | None = None,
    delta_bias: Tensor | None = None,
    delta_softplus: bool = False,
    return_last_state: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """The selective scan by definition: one step of recurrence (1) per time step.

    Slow (a Python loop over ``L``) but obviously right; :func:`selective_scan` is tested against it.
    Returns ``out [batch, dim, L]`` (dtype of ``u``), and ``h_L [batch, dim, state]`` (float32 or
    float64) when ``return_last_state``.
    """
    out_dtype = u.dtype
    u, delta, A = _prepare(u, delta, A, delta_bias, delta_softplus)
    batch, dim, length = u.shape
    Bg = _broadcast_groups(B.to(u.dtype), dim)  # [b, g, 1, n, L]
    Cg = _broadcast_groups(C.to(u.dtype), dim)
    groups, state = Bg.shape[1], A.shape[1]
    Bd = Bg.expand(batch, groups, dim // groups, state, length).reshape(batch, dim, state, length)
    Cd = Cg.expand(batch, groups, dim // groups, state, length).reshape(batch, dim, state, length)

    h = u.new_zeros(batch, dim, state)  # [b, d, n]
    ys = []
    for t in range(length):
        dA = torch.exp(delta[:, :, t, None] * A)  # [b, d, n]
        dBu = delta[:, :, t, None] * Bd[..., t] * u[:, :, t, None]  # [b, d, n]
        h = dA * h + dBu
        ys.append((Cd[..., t] * h).sum(-1))  # [b, d]
    y = torch.stack(ys, dim=-1)  # [b, d, L]
    out = _finish(y, u, D, z, out_dtype)
    return (out, h) if return_last_state else out


def _doubling(a: Tensor, b: Tensor, h0: Tensor | None, out: Tensor | None = None) -> Tensor:
    """Solve ``h_t = a_t h_{t-1} + b_t`` along the last axis by recursive doubling, eq. (2); no autograd.

    ``a, b``: ``[..., L]``; ``h0``: ``[...]`` or None. Each level writes its results straight into its
    slots of ``out`` (odd steps from the recursion, even steps after it): no concatenation.
    """
    length = a.shape[-1]
    h = torch.empty_like(b) if out is None else out  # [..., L]
    if h0 is None:
        h[..., 0] = b[..., 0]
    else:
        torch.addcmul(b[..., 0], a[..., 0], h0, out=h[..., 0])
    if length == 1:
        return h
    pairs = length // 2
    a_even, a_odd = a[..., 0 : 2 * pairs : 2], a[..., 1::2]  # [..., pairs]
    b_even, b_odd = b[..., 0 : 2 * pairs : 2], b[..., 1::2]
    # the odd positions obey the same recurrence, with the same initial state h0
    _doubling(a_odd * a_even, torch.addcmul(b_odd, a_odd, b_even), h0, out=h[..., 1::2])  # h_1, h_3, ...
    rest = (length - 1) // 2  # even positions 2, 4, ...: h_2k = a_2k h_2k-1 + b_2k
    torch.addcmul(b[..., 2::2], a[..., 2::2], h[..., 1 : 2 * rest : 2], out=h[..., 2::2])
    return h


class _LinearScan(torch.autograd.Function):
    """``h = linear_scan(a, b, h0)`` with a hand-written backward, itself a linear scan run backwards.

    With ``g_t = dLoss/dh_t`` in total (through every later step), ``g_t = grad_t + a_{t+1} g_{t+1}``:
    the same recurrence in reverse time. Then ``dL/db_t = g_t``, ``dL/da_t = g_t h_{t-1}`` and
    ``dL/dh0 = a_0 g_0``. Letting autograd differentiate the doubling instead would also be right,
    but its slices cost about ten times the forward pass.
    """

    @staticmethod
    def forward(ctx, a: Tensor, b: Tensor, h0: Tensor | None) -> Tensor:
        h = _doubling(a, b, h0)
        ctx.save_for_backward(a, h, h0)
        return h

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_h: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:
        a, h, h0 = ctx.saved_tensors
        last = (*a.shape[:-1], 1)
        a_next = torch.cat([a[..., 1:], a.new_zeros(last)], dim=-1)  # a_{t+1}; nothing follows the last step
        g = _doubling(a_next.flip(-1), grad_h.flip(-1), None).flip(-1)  # [..., L]
        start = h0[..., None] if h0 is not None else h.new_zeros(last)
        grad_a = g * torch.cat([start, h[..., :-1]], dim=-1)  # g_t h_{t-1}
        grad_h0 = a[..., 0] * g[..., 0] if h0 is not None and ctx.needs_input_grad[2] else None
        return grad_a, g, grad_h0


def linear_scan(a: Tensor, b: Tensor, h0: Tensor | None = None) -> Tensor:
    """Solve ``h_t = a_t h_{t-1} + b_t`` along the last axis, differentiably.

    ``a, b``: ``[..., L]``; ``h0``: the state before the first step, ``[...]`` (zero when None).
    Returns ``h``: ``[..., L]``.
    """
    return _LinearScan.apply(a, b, h0)


def _scan_block(
    u: Tensor,
    delta: Tensor,
    A_g: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor | None,
    z: Tensor | None,
    delta_bias: Tensor | None,
    delta_softplus: bool,
    h0: Tensor | None,
) -> tuple[Tensor, Tensor]:
    """One block of :func:`selective_scan_torch`: ``u, delta, z [b, d, T]``, ``B, C [b, g, 1, n, T]``,
    ``A_g [g, d/g, n, 1]``, ``h0 [b, g, d/g, n]`` (or None). Returns ``out [b, d, T]`` and the last state.

    A function of its own so that the block's intermediates are freed when it returns, and the next
    block reuses their memory.
    """
    out_dtype = u.dtype
    u, delta, A_g = _prepare(u, delta, A_g, delta_bias, delta_softplus)  # [b, d, T]
    (batch, dim, steps), (groups, per_group, state, _) = u.shape, A_g.shape
    delta_g = delta.reshape(batch, groups, per_group, 1, steps)  # channel d = (group, d % (dim / groups))
    a = (delta_g * A_g).exp_()  # [b, g, d/g, n, T]; in place, as the product is needed by nothing else
    b = delta_g * u.reshape(delta_g.shape) * B.to(u.dtype)  # [b, g, d/g, n, T]
    h = linear_scan(a, b, h0)  # [b, g, d/g, n, T], starting from the previous block's state
    C = C.to(u.dtype)
    y = (h * C).sum(-2) if state > 1 else h[..., 0, :] * C[..., 0, :]  # [b, g, d/g, T]
    return _finish(y.reshape(batch, dim, steps), u, D, z, out_dtype), h[..., -1].clone()


def selective_scan_torch(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor | None = None,
    z: Tensor | None = None,
    delta_bias: Tensor | None = None,
    delta_softplus: bool = False,
    return_last_state: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """The blocked recursive-doubling scan in pure PyTorch (any device); arguments as :func:`selective_scan_ref`."""
    batch, dim, length = u.shape
    state = A.shape[1]
    Bg = _broadcast_groups(B, dim)  # [b, g, 1, n, L]
    Cg = _broadcast_groups(C, dim)
    groups = Bg.shape[1]
    A_g = A.view(groups, dim // groups, state, 1)  # [g, d/g, n, 1]

    budget = _BLOCK_ELEMENTS if u.device.type == "cpu" else _GPU_BLOCK_ELEMENTS
    block = max(_MIN_BLOCK, budget // (batch * dim * state))
    # split, not slicing in the loop: the backward of split is one concatenation, while every slice's
    # backward would write a zero tensor of the full length
    blocks = [t.split(block, dim=-1) for t in (u, delta, Bg, Cg)]
    blocks.append(z.split(block, dim=-1) if z is not None else [None] * len(blocks[0]))
    h_last = None  # [b, g, d/g, n], the state carried from block to block
    outs = []
    for u_b, delta_b, B_b, C_b, z_b in zip(*blocks):
        out_b, h_last = _scan_block(u_b, delta_b, A_g, B_b, C_b, D, z_b, delta_bias, delta_softplus, h_last)
        outs.append(out_b)
    out = outs[0] if len(outs) == 1 else torch.cat(outs, dim=-1)  # [b, d, L]
    if not return_last_state:
        return out
    assert h_last is not None  # every call scans at least one block
    return out, h_last.reshape(batch, dim, state)


def _mamba_kernel():
    """mamba_ssm's fused CUDA scan, or None when it is not installed."""
    try:
        from mamba_ssm.ops.selective_scan_interface import selective_scan_fn
    except ImportError:
        return None
    return selective_scan_fn


def selective_scan(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor | None = None,
    z: Tensor | None = None,
    delta_bias: Tensor | None = None,
    delta_softplus: bool = False,
    return_last_state: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """The selective scan, fast: mamba_ssm's CUDA kernel when available, else the blocked doubling scan.

    Same arguments, shapes and results as :func:`selective_scan_ref` (and as mamba_ssm's
    ``selective_scan_fn``).
    """
    args = (u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state)
    if u.is_cuda:
        kernel = _mamba_kernel()
        if kernel is not None:
            return kernel(*args)
    return selective_scan_torch(*args)
