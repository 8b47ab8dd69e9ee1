"""Tests for respkit.decision: the prior correction and the per-class biases, against hand-computed decisions."""

import math

import numpy as np
import pytest

from respkit.decision import ClassPrior, DecisionRule, apply_rules, log_scores
from respkit.metrics import sprsound_scorer
from respkit.train.evaluate import Predictions

SCORE = sprsound_scorer("2-1")  # 3 classes: Normal, Adventitious, Poor Quality

# A 3-class toy on which the argmax calls every item abnormal. Training labels 6 : 2 : 2 under a balanced
# sampler give log(pi / uniform) = log([1.8, 0.6, 0.6]): Normal gains log 3 = 1.0986 * tau over each other class.
TRAIN_LABELS = np.array([0] * 6 + [1] * 2 + [2] * 2)
TOY_SCORES = np.array(
    [
        [0.30, 0.50, 0.20],  # a: Normal; 3 * 0.30 = 0.90 > 0.50 flips at tau = 1; sqrt(3) * 0.30 = 0.52 > 0.50 at 0.5
        [0.20, 0.70, 0.10],  # b: Adventitious; 0.60 < 0.70 stays at tau = 1
        [0.25, 0.15, 0.60],  # c: Normal; 0.75 > 0.60 flips at tau = 1; sqrt(3) * 0.25 = 0.43 < 0.60 stays at 0.5
        [0.10, 0.10, 0.80],  # d: Poor Quality; 0.30 < 0.80 stays
        [0.40, 0.45, 0.15],  # e: Normal; 1.20 > 0.45 flips at tau = 1 (and 0.69 > 0.45 at 0.5)
    ]
)
TOY_TRUE = np.array([0, 1, 0, 2, 0])
ARGMAX = np.array([1, 1, 2, 2, 1])
# Perfect decisions need log(0.6 / 0.25) < tau log 3 (c flips) and tau log 3 < log(0.7 / 0.2) (b stays):
# tau in (0.797, 1.140); the default grid (steps of 0.05, smallest change first) picks 0.8.


def toy_prior() -> ClassPrior:
    return ClassPrior.from_training_labels(TRAIN_LABELS, 3, balanced=True, smoothing=0)


def test_the_prior_comes_from_training_label_counts_and_the_sampler():
    prior = toy_prior()
    np.testing.assert_allclose(prior.target, [0.6, 0.2, 0.2])
    np.testing.assert_allclose(prior.train, [1 / 3] * 3)  # a balanced sampler trains under a uniform prior
    np.testing.assert_allclose(prior.log_ratio, np.log([1.8, 0.6, 0.6]))
    # Unbalanced training already saw pi: nothing to correct.
    np.testing.assert_allclose(
        ClassPrior.from_training_labels(TRAIN_LABELS, 3, balanced=False, smoothing=0).log_ratio, 0.0, atol=1e-12
    )
    # Square-root balancing draws class c with share ∝ sqrt(n_c): sqrt(6) : sqrt(2) : sqrt(2).
    half = ClassPrior.from_training_labels(TRAIN_LABELS, 3, balanced=0.5, smoothing=0)
    np.testing.assert_allclose(half.train, np.sqrt([6, 2, 2]) / np.sqrt([6, 2, 2]).sum())
    # Add-one smoothing by default: 7 : 3 : 3; a class absent from training keeps a finite log prior.
    np.testing.assert_allclose(ClassPrior.from_training_labels(TRAIN_LABELS, 3).target, np.array([7, 3, 3]) / 13)
    absent = ClassPrior.from_training_labels(np.array([0, 0, 1]), 3)
    np.testing.assert_allclose(absent.target, [3 / 6, 2 / 6, 1 / 6])
    with pytest.raises(ValueError, match="no training items"):
        ClassPrior.from_training_labels(np.array([0, 0, 1]), 3, smoothing=0)
    with pytest.raises(ValueError, match="0..2"):
        ClassPrior.from_training_labels(np.array([0, 3]), 3)


def test_log_scores_floor_zero_probabilities_and_keep_the_argmax_of_the_logits():
    np.testing.assert_allclose(log_scores(np.array([[0.0, 1.0]])), [[math.log(1e-12), 0.0]])
    logits = np.array([[2.0, 0.5, -1.0], [0.0, 0.1, 0.2]])
    softmax = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    bias = np.array([0.0, 1.2, 0.9])
    # log softmax = logits - logsumexp per row: a bias moves the argmax exactly as it would on the logits.
    np.testing.assert_array_equal(np.argmax(log_scores(softmax) + bias, 1), np.argmax(logits + bias, 1))
    with pytest.raises(ValueError, match=r"\[N, C\]"):
        log_scores(np.array([0.2, 0.8]))


@pytest.mark.parametrize("tau, flipped", [(0.5, [0, 4]), (1.0, [0, 2, 4])])
def test_the_prior_correction_flips_exactly_the_items_computed_by_hand(tau, flipped):
    rule = DecisionRule("prior", log_ratio=toy_prior().log_ratio, taus=[tau]).fit(TOY_SCORES, TOY_TRUE, SCORE)
    assert rule.tau == tau
    expected = ARGMAX.copy()
    expected[flipped] = 0
    np.testing.assert_array_equal(rule.predict(TOY_SCORES), expected)
    assert np.all(DecisionRule("argmax").predict(TOY_SCORES) == ARGMAX)  # the argmax calls every item abnormal


def test_tau_zero_is_the_argmax():
    rng = np.random.default_rng(0)
    scores = rng.dirichlet(np.ones(4), size=200)

    def accuracy(y_true, y_pred):  # any f(y_true, y_pred) -> {"score": ...} works
        return {"score": float(np.mean(y_true == y_pred))}

    rule = DecisionRule("prior", log_ratio=np.log([0.7, 0.1, 0.1, 0.1]), taus=[0.0])
    rule.fit(scores, rng.integers(0, 4, 200), accuracy)
    assert rule.tau == 0.0 and rule.val_score == rule.argmax_score
    np.testing.assert_array_equal(rule.predict(scores), scores.argmax(axis=1))


def test_fitting_tau_picks_the_hand_computed_value():
    rule = DecisionRule("prior", log_ratio=toy_prior().log_ratio, taus=[0, 0.5, 1, 2]).fit(TOY_SCORES, TOY_TRUE, SCORE)
    # tau: 0 -> sp 0, se 1, score 0.25; 0.5 -> sp 2/3, se 1, (5/6 + 4/5) / 2; 1 -> all right; 2 -> all Normal, 0.25.
    assert rule.argmax_score == pytest.approx(0.25)
    assert rule.tau == 1.0 and rule.val_score == 1.0
    default = DecisionRule("prior", log_ratio=toy_prior().log_ratio).fit(TOY_SCORES, TOY_TRUE, SCORE)
    assert default.tau == 0.8 and default.val_score == 1.0  # the smallest tau on the grid inside (0.797, 1.140)
    np.testing.assert_allclose(default.bias, 0.8 * np.log([1.8, 0.6, 0.6]))


def test_per_class_biases_reach_the_hand_computed_optimum_with_normal_fixed():
    rule = DecisionRule("biases").fit(TOY_SCORES, TOY_TRUE, SCORE)
    # Adventitious (b1, with b2 = 0): a and e go Normal for b1 < log 0.6, b stays for b1 > log(2/7): the grid's
    # first value in (-1.25, -0.51) by size is -0.75. Poor Quality: c goes Normal for b2 < log(0.25 / 0.6),
    # d stays for b2 > log(0.125): first in (-2.08, -0.875) is -1.0.
    np.testing.assert_array_equal(rule.bias, [0.0, -0.75, -1.0])
    assert rule.val_score == 1.0 and rule.argmax_score == pytest.approx(0.25)
    np.testing.assert_array_equal(rule.predict(TOY_SCORES), TOY_TRUE)


@pytest.mark.parametrize("seed", range(5))
def test_fitted_rules_never_score_below_the_argmax_on_validation(seed):
    rng = np.random.default_rng(seed)
    y_val = rng.choice(3, size=120, p=[0.7, 0.2, 0.1])
    scores = rng.dirichlet(np.ones(3), size=120)
    scores[np.arange(120), y_val] += rng.uniform(0, 0.6, 120)  # weakly informative
    scores /= scores.sum(axis=1, keepdims=True)
    argmax = SCORE(y_val, scores.argmax(axis=1))["score"]
    for method in ("prior", "biases"):
        rule = DecisionRule(method, log_ratio=np.log([0.7, 0.2, 0.1]) - np.log(1 / 3)).fit(scores, y_val, SCORE)
        assert rule.argmax_score == pytest.approx(argmax)
        assert rule.val_score >= argmax
        assert rule.val_score == pytest.approx(SCORE(y_val, rule.predict(scores))["score"])  # what it reports is true


def test_fitting_is_deterministic():
    rng = np.random.default_rng(1)
    scores, y = rng.dirichlet(np.ones(3), size=80), rng.integers(0, 3, 80)
    first = DecisionRule("biases").fit(scores, y, SCORE)
    second = DecisionRule("biases").fit(scores.copy(), y.copy(), SCORE)
    np.testing.assert_array_equal(first.bias, second.bias)
    assert first.val_score == second.val_score


def test_apply_rules_fits_on_validation_only():
    val = Predictions(TOY_TRUE, ARGMAX, TOY_SCORES)
    # Test items whose labels are the argmax answers: fitted on them, tau would stay 0 and the biases at 0.
    rng = np.random.default_rng(0)
    test_scores = rng.dirichlet(np.ones(3), size=40)
    test_true = test_scores.argmax(axis=1)
    assert DecisionRule("prior", log_ratio=toy_prior().log_ratio).fit(test_scores, test_true, SCORE).tau == 0.0
    runs = [
        apply_rules(val, {"test": Predictions(labels, test_scores.argmax(1), test_scores)}, SCORE, prior=toy_prior())
        for labels in (test_true, rng.permutation(test_true), np.zeros(40, dtype=int))
    ]
    runs.append(apply_rules(val, {"test": test_scores}, SCORE, prior=toy_prior()))  # scores only, no labels
    for decisions in runs:
        assert decisions.rules["prior"].tau == 0.8  # the validation fit, whatever the test labels
        np.testing.assert_array_equal(decisions.rules["biases"].bias, [0.0, -0.75, -1.0])
        for method in ("argmax", "prior", "biases"):
            np.testing.assert_array_equal(decisions.predictions[method]["test"], runs[0].predictions[method]["test"])
    decisions = runs[0]
    np.testing.assert_array_equal(decisions.predictions["argmax"]["test"], test_scores.argmax(axis=1))
    np.testing.assert_array_equal(
        decisions.predictions["prior"]["test"], np.argmax(np.log(test_scores) + 0.8 * toy_prior().log_ratio, axis=1)
    )
    on_validation = apply_rules(val, {"valid": val}, SCORE, prior=toy_prior())  # the split it was fitted on
    table = on_validation.evaluate({"valid": TOY_TRUE}, SCORE)
    assert table["argmax"]["valid"] == pytest.approx(0.25)
    assert table["prior"]["valid"] == table["biases"]["valid"] == 1.0


def test_misuse_says_what_to_do():
    with pytest.raises(ValueError, match="needs log_ratio"):
        DecisionRule("prior")
    with pytest.raises(ValueError, match="unknown method 'vote'"):
        DecisionRule("vote")
    with pytest.raises(RuntimeError, match="not fitted"):
        DecisionRule("biases").predict(TOY_SCORES)
    with pytest.raises(ValueError, match=r"y_val must be \[N\] = \[5\]"):
        DecisionRule("biases").fit(TOY_SCORES, TOY_TRUE[:4], SCORE)
    rule = DecisionRule("biases").fit(TOY_SCORES, TOY_TRUE, SCORE)
    with pytest.raises(ValueError, match="fitted on 3"):
        rule.predict(np.full((2, 4), 0.25))
