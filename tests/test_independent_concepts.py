"""Concept metrics of Jiang et al. (2024) pinned against loops written here.

theory/concepts.py (embedding, unembedding and mixed steering-vector cosines of Tables 1–2,
exact conditionals, log-odds matching) and the cosine tables of real_models/linear_reps.py.
Each expected value is built from the definitions in Jiang et al. Sec. 2–3 with explicit
Python loops over concept vectors and contexts (tuples), not through the index helpers.
"""

import itertools

import numpy as np
import pytest

from logitrank.theory.concepts import (
    LatentConceptModel,
    all_concept_vectors,
    all_contexts,
    context_index,
    embedding_steering_vectors,
    learned_log_odds,
    log_odds_matching_residual,
    log_odds_matching_tables,
    mean_cross_cosine,
    mean_pairwise_cosine,
    projected_steering_vectors,
    steering_cosines,
    token_index,
    unembedding_steering_vectors,
)

M = 3


def _cos(a, b):
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def _tok(c):            # bit i is concept i
    return sum(int(ci) << i for i, ci in enumerate(c))


def _ctx(d):            # digit i: ⋄ → 0, 0 → 1, 1 → 2
    return sum((int(di) + 1) * 3 ** i for i, di in enumerate(d))


def _tables(seed=0, dim=5):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(3 ** M, dim)), rng.normal(size=(2 ** M, dim))


def _unemb(G, i):
    """Δ_{c,i} = g(c^(i→1)) − g(c^(i→0)) over the c with c_i = 0 (in token order)."""
    out = []
    for c in itertools.product((0, 1), repeat=M):
        c = c[::-1]                                      # token order: bit 0 fastest
        if c[i] == 0:
            c1 = list(c)
            c1[i] = 1
            out.append(G[_tok(c1)] - G[_tok(c)])
    return np.array(out)


def _emb(F, i):
    """f(d^(i→1)) − f(d^(i→0)) over the contexts d with d_i = ⋄."""
    out = []
    for d in itertools.product((-1, 0, 1), repeat=M):
        d = d[::-1]
        if d[i] == -1:
            d0, d1 = list(d), list(d)
            d0[i], d1[i] = 0, 1
            out.append(F[_ctx(d1)] - F[_ctx(d0)])
    return np.array(out)


def _mean_pairwise(X):
    return np.mean([_cos(X[a], X[b]) for a in range(len(X)) for b in range(len(X)) if a != b])


def _mean_cross(X, Y):
    return np.mean([_cos(x, y) for x in X for y in Y])


def test_encodings_by_hand():
    assert token_index([1, 0, 1]) == 5 and _tok([1, 0, 1]) == 5
    assert context_index([-1, 0, 1]) == 0 + 1 * 3 + 2 * 9
    np.testing.assert_array_equal(all_concept_vectors(2), [[0, 0], [1, 0], [0, 1], [1, 1]])
    np.testing.assert_array_equal(all_contexts(1), [[-1], [0], [1]])
    assert all(context_index(d) == k for k, d in enumerate(all_contexts(M)))


def test_steering_vectors_by_definition():
    F, G = _tables()
    for i in range(M):
        np.testing.assert_allclose(unembedding_steering_vectors(G, i), _unemb(G, i))
        np.testing.assert_allclose(embedding_steering_vectors(F, i), _emb(F, i))


def test_mean_cosines_by_loops():
    rng = np.random.default_rng(1)
    X, Y = rng.normal(size=(4, 3)), rng.normal(size=(5, 3))
    assert mean_pairwise_cosine(X) == pytest.approx(_mean_pairwise(X))
    assert mean_cross_cosine(X, Y) == pytest.approx(_mean_cross(X, Y))


def test_steering_cosines_tables_1_2_embedding_unembedding_mixed():
    F, G = _tables(2)
    sc = steering_cosines(F, G)
    for i in range(M):
        assert sc.unembedding[i] == pytest.approx(_mean_pairwise(_unemb(G, i)))
        assert sc.embedding[i] == pytest.approx(_mean_pairwise(_emb(F, i)))
        assert sc.mixed[i] == pytest.approx(_mean_cross(_unemb(G, i), _emb(F, i)))
        for j in range(M):
            want = _mean_pairwise(_unemb(G, i)) if i == j else _mean_cross(_unemb(G, i), _unemb(G, j))
            assert sc.heatmap[i, j] == pytest.approx(want)
    off = [abs(sc.heatmap[i, j]) for i in range(M) for j in range(M) if i != j]
    assert sc.means()["across_abs"] == pytest.approx(np.mean(off))
    assert sc.means()["embedding"] == pytest.approx(np.mean([_mean_pairwise(_emb(F, i)) for i in range(M)]))


def _joint(model):
    """p(c) by the chain rule over the DAG, with explicit loops."""
    p = {}
    for c in itertools.product((0, 1), repeat=model.n_concepts):
        c = c[::-1]
        val = 1.0
        for i, (pa, th) in enumerate(zip(model.parents, model.bernoulli)):
            cfg = sum(c[j] << k for k, j in enumerate(pa))
            val *= th[cfg] if c[i] == 1 else 1 - th[cfg]
        p[c] = val
    return p


def test_joint_marginals_conditional_and_prior_log_odds():
    model = LatentConceptModel(parents=((), (0,), (0, 1)),
                               bernoulli=(np.array([0.3]), np.array([0.6, 0.2]), np.array([0.1, 0.5, 0.7, 0.9])))
    p = _joint(model)
    np.testing.assert_allclose(model.joint(), [p[tuple(c)] for c in all_concept_vectors(M)])
    q = np.array([sum(v for c, v in p.items() if c[i] == 1) for i in range(M)])
    np.testing.assert_allclose(model.marginals(), q)
    np.testing.assert_allclose(model.prior_log_odds(), np.log((1 - q) / q))
    d = (1, -1, 0)                                   # C^0 = 1, C^2 = 0, C^1 unknown
    w = {c: v for c, v in p.items() if c[0] == 1 and c[2] == 0}
    want = np.array([w.get(tuple(c), 0.0) for c in all_concept_vectors(M)]) / sum(w.values())
    np.testing.assert_allclose(model.conditional([d])[0], want)
    kw = 0.3                                         # context weight: p(core) · kw^|core| (1−kw)^(m−|core|)
    assert model.context_weights(kw)[_ctx(d)] == pytest.approx(sum(w.values()) * kw ** 2 * (1 - kw))


def test_learned_log_odds_and_matching_residual_by_softmax():
    F, G = _tables(3)
    i = 1
    lo = learned_log_odds(F, G, i)
    rows = [d for d in (tuple(x) for x in all_contexts(M)) if d[i] == -1]
    cols = [c for c in (tuple(x) for x in all_concept_vectors(M)) if c[i] == 0]
    for r, d in enumerate(rows):
        logits = G @ F[_ctx(d)]
        lp = logits - np.log(np.exp(logits).sum())
        for s, c in enumerate(cols):
            c1 = list(c)
            c1[i] = 1
            assert lo[r, s] == pytest.approx(lp[_tok(c)] - lp[_tok(c1)])     # ln p̂(c^(i→0)) / p̂(c^(i→1))
    model = LatentConceptModel.independent([0.2, 0.4, 0.7])
    res = log_odds_matching_residual(F, G, model)
    alpha = np.log(np.array([0.8, 0.6, 0.3]) / np.array([0.2, 0.4, 0.7]))
    assert res[i] == pytest.approx(np.abs(lo - alpha[i]).max())


def test_exact_construction_satisfies_log_odds_matching_and_theorem_3():
    model = LatentConceptModel.independent([0.2, 0.4, 0.7])
    F, G = log_odds_matching_tables(model, extra_dims=2, rng=np.random.default_rng(4))
    assert np.abs(log_odds_matching_residual(F, G, model)).max() < 1e-9
    for i in range(M):
        P = projected_steering_vectors(F, G, i)
        assert _mean_pairwise(P) == pytest.approx(1.0, abs=1e-9)       # Thm 3: parallel after Π_i
        assert _mean_pairwise(_unemb(G, i)) < 0.99                      # raw ones are not


def test_concept_cosine_tables_by_loops():
    torch = pytest.importorskip("torch")  # noqa: F841 - linear_reps imports torch
    from logitrank.real_models.linear_reps import ConceptPairs, concept_cosine_tables
    rng = np.random.default_rng(5)
    X = rng.normal(size=(12, 4))
    tp = {"a": np.array([[0, 1], [2, 3], [4, 5]]), "b": np.array([[6, 7], [8, 9]]), "c": np.array([[10, 11], [1, 0]])}
    tab = concept_cosine_tables(X, ConceptPairs(token_pairs=tp, words={}, skipped={}))
    D = {k: np.array([X[t] - X[b] for b, t in v]) for k, v in tp.items()}   # target − base
    names = list(tp)
    for a, ka in enumerate(names):
        for b, kb in enumerate(names):
            want = _mean_pairwise(D[ka]) if a == b else _mean_cross(D[ka], D[kb])
            assert tab.pairwise[a, b] == pytest.approx(want)
            ma, mb = D[ka].mean(0), D[kb].mean(0)
            assert tab.directions[a, b] == pytest.approx(_cos(ma, mb))
    assert tab.within == pytest.approx(np.mean([_mean_pairwise(D[k]) for k in names]))
    off = [tab.pairwise[a, b] for a in range(3) for b in range(3) if a != b]
    assert tab.across == pytest.approx(np.mean(off)) and tab.across_abs == pytest.approx(np.mean(np.abs(off)))
    np.testing.assert_array_equal(tab.n_pairs, [3, 2, 2])


def test_log_odds_matching_tables_follow_the_documented_construction():
    """f(d) = [a_i·[d_i = ⋄], margin·(2d_i − 1)·[d_i ≠ ⋄], 0…], g(c) = [c_i, (2c_i − 1)/2, noise·N(0, 1)],
    both rotated by the same Haar Q (drawn after the noise)
    default rng seed 0, noise 1."""
    model = LatentConceptModel.independent([0.2, 0.4, 0.7])
    q = np.array([0.2, 0.4, 0.7])
    a = np.log(q / (1 - q))
    d, c = all_contexts(M), all_concept_vectors(M)
    for kw, seed, noise in (({}, 0, 1.0), ({"rng": np.random.default_rng(9), "noise": 0.5, "margin": 3.0}, 9, 0.5)):
        margin = kw.get("margin", 8.0)
        F, G = log_odds_matching_tables(model, extra_dims=2, **kw)
        rng = np.random.default_rng(seed)
        Fr = np.concatenate([a * (d == -1), margin * (2 * d - 1) * (d != -1), np.zeros((27, 2))], axis=1)
        Gr = np.concatenate([c, (2 * c - 1) / 2, noise * rng.standard_normal((8, 2))], axis=1)
        Q, _ = np.linalg.qr(rng.standard_normal((8, 8)))
        np.testing.assert_allclose(F, Fr @ Q, atol=1e-12)
        np.testing.assert_allclose(G, Gr @ Q, atol=1e-12)
    with pytest.raises(ValueError, match=r"^the exact construction needs independent concepts \(no DAG edges\)$"):
        log_odds_matching_tables(LatentConceptModel(parents=((), (0,)), bernoulli=(np.array([0.5]), np.array([0.4, 0.6]))))


def test_ambiguous_span_projector_by_scipy_orth():
    import scipy.linalg

    from logitrank.theory.concepts import ambiguous_span_projector
    rng = np.random.default_rng(6)
    F = rng.normal(size=(27, 12))
    F[[_ctx(dd) for dd in itertools.product((-1, 0, 1), repeat=3) if dd[1] == -1]] @= np.diag([1.0] * 4 + [0.0] * 8)
    rows = [_ctx(dd) for dd in itertools.product((-1, 0, 1), repeat=3) if dd[1] == -1]   # d_1 = ⋄ (9 contexts)
    B = scipy.linalg.orth(F[rows].T)                      # rank 4 after the mask above
    assert B.shape[1] == 4
    np.testing.assert_allclose(ambiguous_span_projector(F, 1), B @ B.T, atol=1e-10)
    P = ambiguous_span_projector(F * 1e-3, 1)             # scale-free cut relative to σ₁ (σ₁ < 1 here)
    np.testing.assert_allclose(P, B @ B.T, atol=1e-10)
    tiny = F.copy()
    tiny[rows] = tiny[rows] @ np.diag([1.0, 1e-11, 1.0, 1.0] + [0.0] * 8)       # one direction below rtol·σ₁
    assert np.trace(ambiguous_span_projector(tiny, 1)) == pytest.approx(3.0)
    assert np.trace(ambiguous_span_projector(tiny, 1, rtol=1e-13)) == pytest.approx(4.0)
    np.testing.assert_allclose(ambiguous_span_projector(np.zeros((27, 5)), 0), 0.0)     # empty span


def test_concept_validation_boundaries():
    assert all_concept_vectors(12).shape == (4096, 12)
    for bad in (0, 13, True, 2.0):
        with pytest.raises(ValueError, match=r"^the number of concepts m must be an integer in \[1, 12\], got "):
            all_concept_vectors(bad)
    with pytest.raises(ValueError, match="^concept vectors must have entries 0 or 1$"):
        token_index([0, 2])
    with pytest.raises(ValueError, match=r"^contexts must have entries -1 \(unknown\), 0 or 1$"):
        context_index([0, 2])
    F, G = _tables()
    for fn, T in ((unembedding_steering_vectors, G), (embedding_steering_vectors, F)):
        with pytest.raises(ValueError, match="concept"):
            fn(T, M)
        with pytest.raises(ValueError, match="concept"):
            fn(T, -1)
    with pytest.raises(ValueError, match=r"got 27 rows, concept 3$"):
        embedding_steering_vectors(F, 3)
    for FF, GG in ((F[0], G), (F, G[0]), (F[:, :4], G), (F[:9], G), (F, G[:4])):
        with pytest.raises(ValueError, match="embedding F must be|tables do not match"):
            steering_cosines(FF, GG)
    sc2 = steering_cosines(np.random.default_rng(0).normal(size=(9, 3)), np.random.default_rng(1).normal(size=(4, 3)))
    assert sc2.unembedding.shape == (2,)                                 # m = 2 is the smallest allowed
    with pytest.raises(ValueError, match=r"^within-concept cosines need m >= 2"):
        steering_cosines(F[:3], G[:2])
    with pytest.raises(ValueError, match="tables do not match m binary concepts"):
        log_odds_matching_residual(F, G, LatentConceptModel.independent([0.5, 0.5]))
    means = steering_cosines(F, G).means()
    sc = steering_cosines(F, G)
    assert means == pytest.approx({"unembedding": sc.unembedding.mean(), "embedding": sc.embedding.mean(),
                                   "mixed": sc.mixed.mean(), "across_abs": means["across_abs"]})
    # a zero steering vector counts as cosine 0, not NaN
    X = np.array([[1.0, 0.0], [0.0, 0.0], [1.0, 0.0]])
    assert mean_pairwise_cosine(X) == pytest.approx(2 / 6)
    assert mean_cross_cosine(X, X[:1]) == pytest.approx(2 / 3)


def test_latent_model_validation_and_random_dag_rules():
    with pytest.raises(ValueError, match=r"^parents of concept 0 must be distinct indices < 0"):
        LatentConceptModel(parents=((0,),), bernoulli=(np.array([0.5, 0.5]),))
    for th in (0.0, 1.0):
        with pytest.raises(ValueError, match=r"^bernoulli\[0\] must lie strictly in \(0, 1\)"):
            LatentConceptModel.independent([th])
    full = LatentConceptModel.random(4, np.random.default_rng(0), edge_prob=1.0)
    assert full.parents == ((), (0,), (0, 1), (0, 1, 2))                # every forward edge
    none = LatentConceptModel.random(4, np.random.default_rng(0), edge_prob=0.0)
    assert none.is_independent
    eq = LatentConceptModel.random(2, np.random.default_rng(0), low=0.4, high=0.4)
    assert all(np.allclose(t, 0.4) for t in eq.bernoulli)
    for kw in ({"edge_prob": 1.5}, {"edge_prob": -0.1}, {"low": 0.0}, {"high": 1.0}, {"low": 0.6, "high": 0.5},
               {"high": 1.5}):
        with pytest.raises(ValueError, match=r"^need 0 <= edge_prob <= 1 and 0 < low <= high < 1"):
            LatentConceptModel.random(2, np.random.default_rng(0), **kw)
    model = LatentConceptModel.independent([0.3, 0.6])
    for kp in (0.0, 1.0, 1.5):
        with pytest.raises(ValueError, match=r"^keep_prob must lie in \(0, 1\)"):
            model.context_weights(kp)
    w = model.context_weights(0.5)
    assert w.sum() == pytest.approx(1.0)
    ctx, tok = model.sample(4000, np.random.default_rng(1), keep_prob=0.999999)
    assert np.mean(ctx == np.array([_ctx(all_concept_vectors(2)[t]) for t in tok])) > 0.99   # all kept
