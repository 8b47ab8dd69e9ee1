"""The fast selective scan equals the reference loop (values, gradients, last state); the reference is right."""

import math

import pytest
import torch

from respkit.models.scan import linear_scan, selective_scan, selective_scan_ref, selective_scan_torch

GRAD_NAMES = ("u", "delta", "A", "B", "C", "D", "z", "delta_bias")


def make_inputs(batch, dim, length, state, groups=None, dtype=torch.float64, D=True, z=True, bias=True, seed=0):
    g = torch.Generator().manual_seed(seed)
    bc_shape = (batch, state, length) if groups is None else (batch, groups, state, length)
    t = {
        "u": torch.randn(batch, dim, length, generator=g),
        "delta": torch.randn(batch, dim, length, generator=g) * 0.5,
        "A": -torch.rand(dim, state, generator=g) * 2 - 0.1,
        "B": torch.randn(*bc_shape, generator=g),
        "C": torch.randn(*bc_shape, generator=g),
        "D": torch.randn(dim, generator=g) if D else None,
        "z": torch.randn(batch, dim, length, generator=g) if z else None,
        "delta_bias": torch.randn(dim, generator=g) * 0.3 if bias else None,
    }
    return {k: (v.to(dtype).requires_grad_() if v is not None else None) for k, v in t.items()}


def run(fn, inputs, softplus, last_state=False):
    return fn(**inputs, delta_softplus=softplus, return_last_state=last_state)


def positive_delta(inputs):
    """Without softplus, delta must be positive (decays in (0, 1]): use |delta| as a leaf of its own."""
    inputs["delta"] = inputs["delta"].detach().abs().requires_grad_()
    return inputs


def grads(fn, inputs, softplus, weight):
    for v in inputs.values():
        if v is not None:
            v.grad = None
    out = run(fn, inputs, softplus)
    (out.float() * weight).sum().backward()
    # an unused input (A when L = 1) has no gradient: zero, as the reference's exp(delta A) * 0 gives
    return {k: torch.zeros_like(v) if v.grad is None else v.grad.clone() for k, v in inputs.items() if v is not None}


CASES = [  # batch, dim, length, state, groups
    (2, 4, 1, 4, None),  # L = 1
    (1, 3, 7, 1, None),  # odd, tiny
    (2, 4, 100, 16, None),  # not a power of two
    (2, 8, 129, 4, 4),  # grouped B, C as in SS2D (K = 4)
    (1, 4, 300, 16, 2),  # several blocks of the blocked scan
]


@pytest.mark.parametrize("batch,dim,length,state,groups", CASES)
@pytest.mark.parametrize("softplus", [True, False])
@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-10), (torch.float32, 1e-5)])
def test_fast_equals_reference(batch, dim, length, state, groups, softplus, dtype, tol, monkeypatch):
    monkeypatch.setattr("respkit.models.scan._BLOCK_ELEMENTS", 2048)  # several blocks at these sizes
    monkeypatch.setattr("respkit.models.scan._MIN_BLOCK", 16)
    inputs = make_inputs(batch, dim, length, state, groups, dtype)
    if not softplus:
        positive_delta(inputs)
    ref, ref_h = run(selective_scan_ref, inputs, softplus, last_state=True)
    fast, fast_h = run(selective_scan_torch, inputs, softplus, last_state=True)
    assert fast.dtype == dtype and fast.shape == (batch, dim, length)
    # tolerances relative to the output's scale: float32 sums cancel, so entries near zero carry the
    # absolute rounding error of their larger neighbours
    scale = ref.detach().abs().max().item()
    torch.testing.assert_close(fast, ref, rtol=tol, atol=tol * scale)
    torch.testing.assert_close(fast_h, ref_h, rtol=tol, atol=tol * ref_h.detach().abs().max().item())
    weight = torch.randn(batch, dim, length, generator=torch.Generator().manual_seed(1))
    g_ref = grads(selective_scan_ref, inputs, softplus, weight)
    g_fast = grads(selective_scan_torch, inputs, softplus, weight)
    assert set(g_fast) == set(GRAD_NAMES)
    for name in GRAD_NAMES:
        g_scale = g_ref[name].abs().max().item()
        torch.testing.assert_close(g_fast[name], g_ref[name], rtol=tol, atol=tol * g_scale, msg=f"grad {name}")


@pytest.mark.parametrize("D,z,bias", [(False, False, False), (True, False, False), (False, True, True)])
def test_optional_arguments(D, z, bias):
    inputs = make_inputs(2, 4, 50, 4, None, torch.float64, D=D, z=z, bias=bias)
    torch.testing.assert_close(run(selective_scan_torch, inputs, True), run(selective_scan_ref, inputs, True))


def test_bf16_inputs_computed_in_float32():
    inputs = make_inputs(2, 8, 200, 4, 2, torch.bfloat16)
    ref = run(selective_scan_ref, inputs, True)
    fast = run(selective_scan_torch, inputs, True)
    assert fast.dtype == torch.bfloat16
    # both compute in float32 and round once to bf16 (relative step 2^-8): at most a rounding apart
    torch.testing.assert_close(fast.float(), ref.float(), rtol=1e-2, atol=1e-2)
    weight = torch.randn(2, 8, 200, generator=torch.Generator().manual_seed(1))
    g_ref = grads(selective_scan_ref, inputs, True, weight)
    g_fast = grads(selective_scan_torch, inputs, True, weight)
    for name in GRAD_NAMES:
        scale = g_ref[name].float().abs().max()
        torch.testing.assert_close(g_fast[name].float() / scale, g_ref[name].float() / scale, rtol=0, atol=2e-2)


def test_grouped_equals_per_group_scans():
    """Channel d uses group d // (dim / groups): check against ungrouped scans of each group's channels."""
    inputs = make_inputs(2, 8, 40, 3, 4, torch.float64)
    out = run(selective_scan_torch, inputs, True)
    for g in range(4):
        ch = slice(2 * g, 2 * g + 2)
        part = {k: v[:, ch] for k, v in inputs.items() if k in ("u", "delta", "z")}
        part |= {k: v[ch] for k, v in inputs.items() if k in ("A", "D", "delta_bias")}
        part |= {"B": inputs["B"][:, g], "C": inputs["C"][:, g]}
        torch.testing.assert_close(out[:, ch], run(selective_scan_ref, part, True))


def test_reference_matches_closed_form():
    """dA = 1/2, dBu = delta, C = 1: y_t = delta * sum_{k<=t} 2^-k = 2 delta (1 - 2^-(t+1))."""
    length, delta = 12, math.log(2.0)
    u = torch.ones(1, 1, length, dtype=torch.float64)
    y = selective_scan_ref(
        u,
        torch.full_like(u, delta),
        -torch.ones(1, 1, dtype=torch.float64),
        torch.ones(1, 1, length, dtype=torch.float64),
        torch.ones(1, 1, length, dtype=torch.float64),
    )
    t = torch.arange(length, dtype=torch.float64)
    torch.testing.assert_close(y[0, 0], 2 * delta * (1 - 0.5 ** (t + 1)))


def test_no_overflow_with_strong_decay():
    """exp(-cumsum(delta A)) would overflow here; the doubling scan only multiplies decays in (0, 1]."""
    inputs = make_inputs(1, 4, 257, 4, None, torch.float32)
    with torch.no_grad():
        inputs["delta"].uniform_(5.0, 10.0)
        inputs["A"].uniform_(-20.0, -10.0)
    fast = run(selective_scan_torch, inputs, False)
    assert torch.isfinite(fast).all()
    torch.testing.assert_close(fast, run(selective_scan_ref, inputs, False), rtol=1e-5, atol=1e-5)


def test_linear_scan_initial_state():
    g = torch.Generator().manual_seed(0)
    a = torch.rand(3, 37, generator=g, dtype=torch.float64)  # [..., L]: time on the last axis
    b = torch.randn(3, 37, generator=g, dtype=torch.float64)
    h0 = torch.randn(3, generator=g, dtype=torch.float64)
    h, expected = h0, []
    for t in range(37):
        h = a[:, t] * h + b[:, t]
        expected.append(h)
    torch.testing.assert_close(linear_scan(a, b, h0), torch.stack(expected, dim=-1))


@pytest.mark.parametrize("length", [1, 2, 7, 16])
@pytest.mark.parametrize("with_h0", [True, False])
def test_linear_scan_hand_written_backward_passes_gradcheck(length, with_h0):
    """The reverse-time backward equals finite differences of the forward (float64)."""
    g = torch.Generator().manual_seed(length)
    a = torch.rand(2, 3, length, generator=g, dtype=torch.float64).requires_grad_()
    b = torch.randn(2, 3, length, generator=g, dtype=torch.float64).requires_grad_()
    h0 = torch.randn(2, 3, generator=g, dtype=torch.float64).requires_grad_() if with_h0 else None
    assert torch.autograd.gradcheck(linear_scan, (a, b, h0))


def test_dispatch_on_cpu_is_the_torch_scan():
    inputs = make_inputs(1, 4, 20, 2, None, torch.float32)
    assert torch.equal(run(selective_scan, inputs, True), run(selective_scan_torch, inputs, True))


def test_reference_wrapping_of_D_z_bias_softplus():
    """The extras, written out independently: out = (scan(softplus(delta + bias)) + D u) * z sigmoid(z)."""
    t = make_inputs(2, 4, 30, 3, None, torch.float64)
    delta = torch.log1p(torch.exp(t["delta"] + t["delta_bias"][:, None]))
    core = selective_scan_ref(t["u"], delta, t["A"], t["B"], t["C"])
    expected = (core + t["D"][:, None] * t["u"]) * t["z"] * torch.sigmoid(t["z"])
    torch.testing.assert_close(run(selective_scan_ref, t, True), expected)
