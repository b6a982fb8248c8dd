"""Training the latent-concept model (Jiang et al. Sec. 5.1, Tables 1-2) and the GD alignment theorems."""

import numpy as np
import pytest
import torch

from logitrank.errors import InvalidInputError
from logitrank.sim.concept_training import (
    gd_exponential_alignment,
    gd_fixed_embedding_alignment,
    gd_joint_alignment,
    train_concept_models,
)
from logitrank.theory.concepts import LatentConceptModel

# Quick-suite schedule: SGD with lr 1.0 (the paper's 0.1 needs ~10x more steps), batch 100.
STEPS = {3: 3000, 4: 4000, 5: 6000, 6: 15000, 7: 30000}


def _check_sgd_cosines(ms, n_seeds):
    for m in ms:
        res = train_concept_models(m, seeds=range(100 + m, 100 + m + n_seeds), optimizer="sgd", lr=1.0,
                                   n_steps=STEPS[m])
        s = res.summary()["unembedding"]
        print(f"m={m}: unembedding within-concept cos {s['mean']:.4f} ± {s['std']:.4f} "
              f"(min {s['min']:.4f}, max {s['max']:.4f}, {n_seeds} seeds)")
        assert s["mean"] >= 0.95, (m, s)
        assert res.summary()["across_abs"]["mean"] < 0.2


def test_sgd_within_concept_cosines_fast():
    """Jiang et al. Table 1 (SGD): mean within-concept unembedding cosine ≥ 0.95 (paper 0.97-0.997); fast subset."""
    _check_sgd_cosines((4, 5), 3)


@pytest.mark.slow
def test_sgd_within_concept_cosines_full():
    """Same, m = 4…7, 5 seeds each (m = 3: see the local-optimum test below)."""
    _check_sgd_cosines((4, 5, 6, 7), 5)


def test_sgd_m3_stuck_runs_are_worse_optima():
    """m = 3, d = 3: most SGD runs give parallel steering vectors (median cos ≥ 0.95), but some runs end in a
    configuration where one concept is not linear (cos ≈ 0.45); those runs have a *higher* final loss, so they
    are worse local optima of the fit, not a counterexample to the linear optimum. (The paper reports
    0.972 ± 0.006 over 100 runs; our mean over these 10 seeds is ≈ 0.88 because of 1 stuck run in 10.)"""
    res = train_concept_models(3, seeds=range(103, 113), optimizer="sgd", lr=1.0, n_steps=STEPS[3])
    cos = res.metric("unembedding")
    loss = res.loss_history[-1]
    print(f"m=3 per-run cos {np.round(cos, 3)}; mean {cos.mean():.3f} ± {cos.std(ddof=1):.3f}")
    assert np.median(cos) >= 0.95
    stuck = cos < 0.9
    if stuck.any():
        # Runs have different DAGs (different entropies), so compare the excess of the exact population
        # loss over the conditional entropy, i.e. the expected KL from the truth to the fit.
        from logitrank.sim.concept_training import exact_expected_loss
        excess = []
        for s, mod in enumerate(res.models):
            P, w = mod.conditional_table(), mod.context_weights()
            entropy = -(w[:, None] * P * np.log(np.where(P > 0, P, 1.0))).sum()
            excess.append(exact_expected_loss(res.embeddings[s], res.unembeddings[s], mod) - entropy)
        excess = np.array(excess)
        print(f"excess loss (KL) per run {np.round(excess, 4)}")
        assert excess[stuck].min() > np.median(excess[~stuck]), (excess, cos, loss)


def test_manual_gradients_match_autograd():
    m, S = 3, 2
    models = [LatentConceptModel.random(m, np.random.default_rng(s)) for s in range(S)]
    r1 = train_concept_models(m, seeds=[0, 1], optimizer="gd", lr=0.5, n_steps=1, models=models)
    # Recompute one full-batch GD step with autograd from the same initialisation.
    rngs = [np.random.default_rng(s) for s in range(S)]
    for s in range(S):
        F0 = torch.tensor(rngs[s].standard_normal((27, m)), requires_grad=True)
        G0 = torch.tensor(rngs[s].standard_normal((8, m)), requires_grad=True)
        P = torch.tensor(models[s].conditional_table())
        w = torch.tensor(models[s].context_weights())
        loss = -(w[:, None] * P * torch.log_softmax(F0 @ G0.T, -1)).sum()
        loss.backward()
        assert np.allclose((F0 - 0.5 * F0.grad).detach().numpy(), r1.embeddings[s], atol=1e-10)
        assert np.allclose((G0 - 0.5 * G0.grad).detach().numpy(), r1.unembeddings[s], atol=1e-10)


def test_training_is_seeded_and_adam_runs():
    a = train_concept_models(3, seeds=[5], optimizer="adam", lr=0.01, n_steps=300, log_every=50)
    b = train_concept_models(3, seeds=[5], optimizer="adam", lr=0.01, n_steps=300, log_every=50)
    assert np.array_equal(a.unembeddings, b.unembeddings)
    assert a.loss_history[-1, 0] < a.loss_history[0, 0]
    with pytest.raises(InvalidInputError):
        train_concept_models(3, seeds=[], n_steps=10)
    with pytest.raises(InvalidInputError):
        train_concept_models(3, seeds=[0], optimizer="lbfgs", n_steps=10)


def test_thm12_cosine_monotone_to_one():
    """Jiang et al. Thm 12: GD on exp(−uᵀv) with η < 1/L(u0, v0) makes cos(u_t, v_t) increase monotonically (→ 1)."""
    rng = np.random.default_rng(1)
    t = gd_exponential_alignment(rng.standard_normal(5), rng.standard_normal(5), n_steps=3000, log_every=10)
    assert np.all(np.diff(t.cos_embedding) >= -1e-12)
    assert t.cos_embedding[-1] > max(0.95, t.cos_embedding[0])
    assert t.loss[-1] < t.loss[0]


def test_thm14_joint_gd_aligns_embedding_and_unembedding():
    """Jiang et al. Thm 5/14: from mutually orthogonal equal-norm vectors, GD on Σ exp(−⟨u1,v_k⟩)+exp(⟨u2,v_k⟩)
    drives cos(v_i, v_j) → 1 and cos(u1 − u2, v_k) → 1 (convergence in direction is slow, so we check the rise)."""
    t = gd_joint_alignment(4, 8, n_steps=20000, log_every=1000, rng=np.random.default_rng(2))
    assert abs(t.cos_within[0]) < 1e-9                     # orthogonal start
    assert t.cos_within[-1] > 0.8 and t.cos_embedding[-1] > 0.9
    assert np.all(np.diff(t.cos_within) > 0)


def test_thm4_fixed_embedding_aligns_unembedding_steering():
    """Jiang et al. Thm 4: with f fixed on d^⋄_(i→1), d^⋄_(i→0), GD on g aligns all Δ_{c,i} (cos rises toward 1)."""
    t = gd_fixed_embedding_alignment(3, n_steps=20000, log_every=2000, lr=0.5, rng=np.random.default_rng(0))
    assert t.cos_within[-1] > t.cos_within[0] + 0.2
    assert t.cos_within[-1] > 0.6
