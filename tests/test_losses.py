"""respkit.losses against direct, one-anchor-at-a-time computations."""

import math

import pytest
import torch
import torch.nn.functional as F

from respkit.losses import NTXent, PatchMixContrastiveLoss, SupCon, mixed_cross_entropy, patchmix_projector


def unit(*shape: int, seed: int = 0) -> torch.Tensor:
    return F.normalize(torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64), dim=-1)


def ntxent_loop(z1: torch.Tensor, z2: torch.Tensor, tau: float) -> torch.Tensor:
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    n, batch = len(z), len(z1)
    losses = []
    for a in range(n):
        positive = (a + batch) % n
        numerator = math.exp(float(z[a] @ z[positive]) / tau)
        denominator = sum(math.exp(float(z[a] @ z[k]) / tau) for k in range(n) if k != a)
        losses.append(-math.log(numerator / denominator))
    return torch.tensor(sum(losses) / n, dtype=torch.float64)


def supcon_loop(features: torch.Tensor, labels: torch.Tensor, tau: float) -> torch.Tensor:
    """Mean over anchors with positives of -mean_p log(exp(s_ap) / sum_{k != a} exp(s_ak))."""
    batch, views, _ = features.shape
    anchors = [(i, v) for i in range(batch) for v in range(views)]
    losses = []
    for i, v in anchors:
        others = [(j, w) for j, w in anchors if (j, w) != (i, v)]
        positives = [(j, w) for j, w in others if labels[j] == labels[i]]
        if not positives:
            continue
        sim = {(j, w): float(features[i, v] @ features[j, w]) / tau for j, w in others}
        log_denominator = math.log(sum(math.exp(s) for s in sim.values()))
        losses.append(-sum(sim[p] - log_denominator for p in positives) / len(positives))
    return torch.tensor(sum(losses) / len(losses), dtype=torch.float64)


def test_ntxent_matches_the_per_anchor_loop():
    z1 = torch.randn(6, 5, dtype=torch.float64) * 3  # not normalised: NTXent normalises
    z2 = torch.randn(6, 5, dtype=torch.float64)
    for tau in (0.5, 0.1):
        assert NTXent(tau)(z1, z2).item() == pytest.approx(ntxent_loop(z1, z2, tau).item(), rel=1e-9)


def test_ntxent_is_symmetric_and_rejects_bad_input():
    z1, z2 = torch.randn(4, 8), torch.randn(4, 8)
    assert torch.allclose(NTXent()(z1, z2), NTXent()(z2, z1))
    with pytest.raises(ValueError, match="z1 and z2"):
        NTXent()(z1, z2[:3])
    with pytest.raises(ValueError, match="z1 and z2"):
        NTXent()(z1[None], z2[None])


def test_supcon_matches_the_loop_with_labels_and_views():
    features = unit(8, 3, 6)
    labels = torch.tensor([0, 1, 0, 2, 1, 1, 3, 0])
    for tau in (0.1, 0.5):
        expected = supcon_loop(features, labels, tau).item()
        assert SupCon(tau)(features, labels).item() == pytest.approx(expected, rel=1e-9)


def test_supcon_gradient_matches_the_loop_gradient():
    base = unit(5, 2, 4)
    labels = torch.tensor([0, 1, 0, 1, 1])
    grads = []
    for compute in (lambda f: SupCon(0.2)(f, labels), lambda f: supcon_loop_torch(F.normalize(f, dim=-1), labels, 0.2)):
        f = base.clone().requires_grad_(True)
        compute(f).backward()
        grads.append(f.grad)
    assert torch.allclose(grads[0], grads[1], atol=1e-10)


def supcon_loop_torch(features: torch.Tensor, labels: torch.Tensor, tau: float) -> torch.Tensor:
    """The same loop with torch operations, so that autograd can differentiate it."""
    batch, views, _ = features.shape
    anchors = [(i, v) for i in range(batch) for v in range(views)]
    losses = []
    for i, v in anchors:
        others = [(j, w) for j, w in anchors if (j, w) != (i, v)]
        sims = torch.stack([features[i, v] @ features[j, w] / tau for j, w in others])
        positive = torch.tensor([bool(labels[j] == labels[i]) for j, _ in others])
        log_prob = sims - torch.log(torch.exp(sims).sum())
        losses.append(-log_prob[positive].mean())
    return torch.stack(losses).mean()


def test_supcon_anchors_without_positive_are_left_out():
    features = unit(5, 1, 4)
    labels = torch.tensor([0, 0, 1, 2, 1])  # item 3 has no positive with a single view
    loss = SupCon(0.1)(features, labels)
    assert torch.isfinite(loss)
    assert loss.item() == pytest.approx(supcon_loop(features, labels, 0.1).item(), rel=1e-9)


def test_supcon_batch_without_any_positive_gives_zero_that_backpropagates():
    features = unit(4, 1, 3).requires_grad_(True)
    loss = SupCon(0.1)(features, torch.arange(4))
    assert loss.item() == 0.0
    loss.backward()
    assert features.grad is not None and torch.equal(features.grad, torch.zeros_like(features))


def test_supcon_without_labels_is_ntxent_for_two_views():
    features = unit(7, 2, 5)
    for tau in (0.1, 0.5):
        expected = NTXent(tau)(features[:, 0], features[:, 1]).item()
        assert SupCon(tau)(features).item() == pytest.approx(expected, rel=1e-9)


def test_supcon_is_stable_at_a_small_temperature():
    features = unit(16, 2, 8).float()
    labels = torch.randint(0, 3, (16,), generator=torch.Generator().manual_seed(0))
    loss = SupCon(0.005)(features, labels)
    assert torch.isfinite(loss)
    assert loss.item() == pytest.approx(supcon_loop(features.double(), labels, 0.005).item(), rel=1e-4)


def test_supcon_normalises_its_embeddings_itself():
    """The embedding contract of every contrastive loss: raw projections in, cosine similarities inside."""
    features, labels = unit(5, 2, 4), torch.tensor([0, 0, 1, 2, 1])
    scale = torch.tensor([0.5, 3.0, 1.0, 7.0, 0.1], dtype=features.dtype)[:, None, None]
    assert SupCon(0.1)(features * scale, labels).item() == pytest.approx(
        SupCon(0.1)(features, labels).item(), rel=1e-12
    )


def test_supcon_rejects_bad_input():
    features = unit(4, 2, 3)
    with pytest.raises(ValueError, match=r"\[batch, n_views, dim\]"):
        SupCon()(features[:, 0], torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="labels"):
        SupCon()(features, torch.zeros(3, dtype=torch.long))


def test_mixed_cross_entropy_matches_its_definition():
    logits = torch.randn(6, 4, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 3, 1, 0])
    perm = torch.tensor([3, 0, 1, 2, 5, 4])
    expected = (
        sum(
            -(0.3 * F.log_softmax(logits[i], 0)[y[i]] + 0.7 * F.log_softmax(logits[i], 0)[y[perm[i]]]) for i in range(6)
        )
        / 6
    )
    assert mixed_cross_entropy(logits, y, perm, 0.3).item() == pytest.approx(expected.item(), rel=1e-12)
    per_item = torch.linspace(0, 1, 6, dtype=torch.float64)
    expected_items = (
        sum(
            -(
                per_item[i] * F.log_softmax(logits[i], 0)[y[i]]
                + (1 - per_item[i]) * F.log_softmax(logits[i], 0)[y[perm[i]]]
            )
            for i in range(6)
        )
        / 6
    )
    assert mixed_cross_entropy(logits, y, perm, per_item).item() == pytest.approx(expected_items.item(), rel=1e-12)
    assert torch.allclose(mixed_cross_entropy(logits, y, perm, 1.0), F.cross_entropy(logits, y))
    with pytest.raises(ValueError, match="perm"):
        mixed_cross_entropy(logits, y, perm[:5], 0.5)
    with pytest.raises(ValueError, match="lam"):
        mixed_cross_entropy(logits, y, perm, torch.ones(5))


def patchmix_loop(loss: PatchMixContrastiveLoss, z_clean, query, perm, lam) -> torch.Tensor:
    anchor = F.normalize(z_clean, dim=1)
    query = F.normalize(query, dim=1)
    total = 0.0
    for i in range(len(z_clean)):
        logits = torch.stack([query[i] @ anchor[j] / loss.temperature for j in range(len(z_clean))])
        log_p = F.log_softmax(logits, 0)
        target = torch.zeros(len(z_clean), dtype=logits.dtype)
        target[i] += lam
        target[perm[i]] += 1 - lam  # adds up when perm[i] == i
        total = total - (target * log_p).sum()
    return total / len(z_clean)


def test_patchmix_loss_matches_the_loop_and_stops_the_anchor_gradient():
    torch.manual_seed(0)
    loss, projector = PatchMixContrastiveLoss(temperature=0.06), patchmix_projector(8, 16).double()
    z_clean = torch.randn(6, 8, dtype=torch.float64, requires_grad=True)
    z_mixed = torch.randn(6, 8, dtype=torch.float64, requires_grad=True)
    perm = torch.tensor([2, 1, 0, 5, 3, 4])  # item 1 is its own partner
    value = loss(z_clean, projector(z_mixed), perm, 0.7)
    expected = patchmix_loop(loss, z_clean, projector(z_mixed), perm, 0.7)
    assert value.item() == pytest.approx(expected.item(), rel=1e-9)
    value.backward()
    assert z_clean.grad is None  # stop-gradient on the anchor
    assert z_mixed.grad is not None and z_mixed.grad.abs().sum() > 0
    assert all(p.grad is not None for p in projector.parameters())
    assert list(loss.parameters()) == []  # the loss holds no weights: the projector is the objective's
    scaled = loss(3 * z_clean, 0.5 * projector(z_mixed), perm, 0.7)  # it normalises its embeddings itself
    assert scaled.item() == pytest.approx(value.item(), rel=1e-9)


def test_patchmix_loss_rejects_bad_shapes():
    loss = PatchMixContrastiveLoss()
    with pytest.raises(ValueError, match="z_clean and query"):
        loss(torch.randn(4, 8), torch.randn(4, 7), torch.arange(4), 0.5)
    assert "temperature=0.06" in repr(loss)
