"""The latent-concept model of Jiang et al. (2024) and the geometry of its steering vectors.

Setting (Jiang, Rajendran, Ravikumar, Aragam, Veitch 2024, "On the Origins of Linear
Representations in Large Language Models", Sec. 2): m binary latent concepts
C = (C^1, …, C^m) ∈ {0, 1}^m with a joint law p(c) (independent, or a DAG whose
conditional Bernoulli parameters lie in [0.3, 0.7]); every concept vector is one token
(an injective map, so the vocabulary has 2^m tokens); a context d ∈ {⋄, 0, 1}^m fixes
the concepts in core(d) and leaves the others unknown (⋄); the true next-token law is
p(c | d) = p(c | c_core(d)).

A model learns lookup tables f (embedding, one row per context, 3^m rows) and g
(unembedding, one row per token, 2^m rows) with p̂(c | d) = softmax_c f(d)ᵀ g(c).

Encodings (fixed here, used everywhere):

- token index of c: ``sum_i c_i 2^i`` (bit i is concept i);
- context index of d: ``sum_i (d_i + 1) 3^i`` with ⋄ coded as −1 (so digit 0 is ⋄,
  1 is "fixed to 0", 2 is "fixed to 1").

This module is NumPy only (the theory core): exact conditionals, steering vectors and
their cosines, the log-odds-matching condition and its check, the projection Π_i of
Theorem 3, and an explicit construction that satisfies log-odds matching exactly.
Training lives in :mod:`logitrank.sim.concept_training`.

References
----------
Jiang et al. 2024, arXiv:2403.03867 — Sec. 2 (model), Def. 2 (linear encoding),
Thm 3 (log-odds matching ⇒ parallel projected steering vectors), Thm 7 / Cor. 8
(Euclidean orthogonality of unrelated concepts).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from logitrank.errors import InvalidInputError

__all__ = [
    "UNKNOWN",
    "LatentConceptModel",
    "token_index",
    "context_index",
    "all_concept_vectors",
    "all_contexts",
    "unembedding_steering_vectors",
    "embedding_steering_vectors",
    "mean_pairwise_cosine",
    "mean_cross_cosine",
    "SteeringCosines",
    "steering_cosines",
    "learned_log_odds",
    "log_odds_matching_residual",
    "ambiguous_span_projector",
    "projected_steering_vectors",
    "log_odds_matching_tables",
]

#: Numerical code of ⋄ ("concept not fixed by the context").
UNKNOWN = -1
_MAX_CONCEPTS = 12   # 3^12 = 531441 contexts: the largest table we allow


def _check_m(m: int) -> int:
    if not isinstance(m, (int, np.integer)) or isinstance(m, bool) or not 1 <= int(m) <= _MAX_CONCEPTS:
        raise InvalidInputError(f"the number of concepts m must be an integer in [1, {_MAX_CONCEPTS}], got {m!r}")
    return int(m)


def all_concept_vectors(m: int) -> np.ndarray:
    """Every concept vector, ``(2^m, m)`` int64, row k is the token with index k.

    Examples
    --------
    >>> all_concept_vectors(2).tolist()
    [[0, 0], [1, 0], [0, 1], [1, 1]]
    """
    m = _check_m(m)
    k = np.arange(2 ** m)
    return ((k[:, None] >> np.arange(m)[None, :]) & 1).astype(np.int64)


def all_contexts(m: int) -> np.ndarray:
    """Every context, ``(3^m, m)`` int64 with entries in {−1 (⋄), 0, 1}; row k has index k.

    Examples
    --------
    >>> all_contexts(1).tolist(), all_contexts(2)[5].tolist()
    ([[-1], [0], [1]], [1, 0])
    """
    m = _check_m(m)
    k = np.arange(3 ** m)
    digits = (k[:, None] // (3 ** np.arange(m))[None, :]) % 3
    return (digits - 1).astype(np.int64)


def token_index(c) -> np.ndarray:
    """Token index of concept vectors ``c`` (``(..., m)`` with entries 0/1).

    Examples
    --------
    Concept i is bit i of the index: (1, 0, 1) is 1 + 4.

    >>> int(token_index([1, 0, 1])), token_index([[0, 1], [1, 1]]).tolist()
    (5, [2, 3])
    """
    c = np.asarray(c)
    if c.size and not np.isin(c, (0, 1)).all():
        raise InvalidInputError("concept vectors must have entries 0 or 1")
    return (c.astype(np.int64) << np.arange(c.shape[-1])).sum(-1)


def context_index(d) -> np.ndarray:
    """Context index of contexts ``d`` (``(..., m)`` with entries −1 (⋄), 0, 1).

    Examples
    --------
    Base-3 digits d_i + 1: (1, 0) is 2·1 + 1·3.

    >>> int(context_index([1, 0])), int(context_index([-1, -1]))
    (5, 0)
    """
    d = np.asarray(d)
    if d.size and not np.isin(d, (-1, 0, 1)).all():
        raise InvalidInputError("contexts must have entries -1 (unknown), 0 or 1")
    return ((d.astype(np.int64) + 1) * 3 ** np.arange(d.shape[-1])).sum(-1)


@dataclasses.dataclass(frozen=True)
class LatentConceptModel:
    """m binary concepts as a Bayesian network in topological order 0, …, m−1.

    Parameters
    ----------
    parents : tuple of tuples; ``parents[i]`` lists the parents of concept i, all < i.
    bernoulli : tuple of arrays; ``bernoulli[i][k] = P(C^i = 1 | parents in configuration k)``,
        where configuration k has bit j equal to the value of ``parents[i][j]``
        (length ``2^len(parents[i])``).

    Independent concepts are the case of no edges (Jiang et al. Sec. 3.1, the case where
    log-odds matching holds exactly); a random DAG is Remark 1's / Sec. 5.1's setting.
    """

    parents: tuple
    bernoulli: tuple

    def __post_init__(self):
        m = len(self.parents)
        _check_m(m)
        if len(self.bernoulli) != m:
            raise InvalidInputError(f"need one Bernoulli table per concept: {m} parents lists, "
                                    f"{len(self.bernoulli)} tables")
        for i, (pa, th) in enumerate(zip(self.parents, self.bernoulli)):
            if any(not 0 <= j < i for j in pa) or len(set(pa)) != len(pa):
                raise InvalidInputError(f"parents of concept {i} must be distinct indices < {i} "
                                        f"(topological order), got {pa}")
            th = np.asarray(th, float)
            if th.shape != (2 ** len(pa),):
                raise InvalidInputError(f"bernoulli[{i}] must have length 2^{len(pa)}, got shape {th.shape}")
            if not ((th > 0) & (th < 1)).all():
                raise InvalidInputError(f"bernoulli[{i}] must lie strictly in (0, 1) (positivity, "
                                        f"p(c) > 0 for all c), got {th}")

    @property
    def n_concepts(self) -> int:
        return len(self.parents)

    @property
    def n_tokens(self) -> int:
        return 2 ** self.n_concepts

    @property
    def n_contexts(self) -> int:
        return 3 ** self.n_concepts

    @classmethod
    def independent(cls, probs) -> "LatentConceptModel":
        """Independent concepts with ``P(C^i = 1) = probs[i]``."""
        probs = np.asarray(probs, float).ravel()
        return cls(parents=tuple(() for _ in probs), bernoulli=tuple(np.array([p]) for p in probs))

    @classmethod
    def random(cls, m: int, rng: np.random.Generator, *, edge_prob: float = 0.5,
               low: float = 0.3, high: float = 0.7) -> "LatentConceptModel":
        """A random DAG on m concepts (Jiang et al. Sec. 5.1).

        Each forward edge j → i (j < i) is present with probability ``edge_prob`` (0 gives
        independent concepts); every conditional Bernoulli parameter is drawn from
        Unif[low, high]. The paper does not say how its DAGs are drawn; this rule is ours.
        """
        m = _check_m(m)
        if not 0 <= edge_prob <= 1 or not 0 < low <= high < 1:
            raise InvalidInputError(f"need 0 <= edge_prob <= 1 and 0 < low <= high < 1, got "
                                    f"edge_prob={edge_prob}, low={low}, high={high}")
        parents, tables = [], []
        for i in range(m):
            pa = tuple(j for j in range(i) if rng.random() < edge_prob)
            parents.append(pa)
            tables.append(rng.uniform(low, high, size=2 ** len(pa)))
        return cls(parents=tuple(parents), bernoulli=tuple(tables))

    @property
    def is_independent(self) -> bool:
        return all(len(pa) == 0 for pa in self.parents)

    def joint(self) -> np.ndarray:
        """p(c) for every token, ``(2^m,)`` (index encoding of :func:`token_index`)."""
        c = all_concept_vectors(self.n_concepts)
        p = np.ones(len(c))
        for i, (pa, th) in enumerate(zip(self.parents, self.bernoulli)):
            cfg = (c[:, list(pa)] << np.arange(len(pa))).sum(1) if pa else np.zeros(len(c), np.int64)
            q = np.asarray(th)[cfg]
            p *= np.where(c[:, i] == 1, q, 1 - q)
        return p

    def marginals(self) -> np.ndarray:
        """P(C^i = 1) for each concept, ``(m,)``."""
        return self.joint() @ all_concept_vectors(self.n_concepts)

    def prior_log_odds(self) -> np.ndarray:
        """α^(i) = ln P(C^i = 0) / P(C^i = 1), ``(m,)`` — the right side of log-odds matching."""
        q = self.marginals()
        return np.log1p(-q) - np.log(q)

    def conditional(self, contexts) -> np.ndarray:
        """p(c | d) = p(c | c_core(d)) for a batch of contexts, ``(n, 2^m)`` (exact)."""
        d = np.atleast_2d(np.asarray(contexts, np.int64))
        if d.shape[1] != self.n_concepts:
            raise InvalidInputError(f"contexts must have {self.n_concepts} entries, got shape {d.shape}")
        context_index(d)  # validates entries
        c = all_concept_vectors(self.n_concepts)
        consistent = ((d[:, None, :] == UNKNOWN) | (d[:, None, :] == c[None, :, :])).all(-1)
        w = consistent * self.joint()[None, :]
        return w / w.sum(1, keepdims=True)

    def conditional_table(self) -> np.ndarray:
        """p(c | d) for every context (rows, index encoding) and token (columns), ``(3^m, 2^m)``."""
        return self.conditional(all_contexts(self.n_concepts))

    def context_weights(self, keep_prob: float = 0.5) -> np.ndarray:
        """P(d) when c ~ p and each entry is kept independently with prob. ``keep_prob``, ``(3^m,)``.

        This is the data distribution of the paper's masking scheme (the mask law is not
        stated there; i.i.d. Bernoulli masks are our choice).
        """
        if not 0 < keep_prob < 1:
            raise InvalidInputError(f"keep_prob must lie in (0, 1), got {keep_prob}")
        d = all_contexts(self.n_concepts)
        c = all_concept_vectors(self.n_concepts)
        consistent = ((d[:, None, :] == UNKNOWN) | (d[:, None, :] == c[None, :, :])).all(-1)
        p_core = consistent.astype(float) @ self.joint()
        n_kept = (d != UNKNOWN).sum(1)
        return p_core * keep_prob ** n_kept * (1 - keep_prob) ** (self.n_concepts - n_kept)

    def sample(self, n: int, rng: np.random.Generator, *, keep_prob: float = 0.5):
        """Training pairs: ``(context_idx (n,), token_idx (n,))`` by ancestral sampling + masks."""
        c = rng.choice(self.n_tokens, size=n, p=self.joint())
        vec = all_concept_vectors(self.n_concepts)[c]
        keep = rng.random(vec.shape) < keep_prob
        return context_index(np.where(keep, vec, UNKNOWN)), c


def _check_tables(F, G, m: int | None = None):
    F = np.asarray(F, float)
    G = np.asarray(G, float)
    if F.ndim != 2 or G.ndim != 2 or F.shape[1] != G.shape[1]:
        raise InvalidInputError(f"embedding F must be (3^m, dim) and unembedding G (2^m, dim) with one dim; "
                                f"got {F.shape} and {G.shape}")
    mm = int(round(np.log2(G.shape[0])))
    if 2 ** mm != G.shape[0] or 3 ** mm != F.shape[0] or (m is not None and mm != m):
        raise InvalidInputError(f"tables do not match m binary concepts: F has {F.shape[0]} rows (want 3^m), "
                                f"G has {G.shape[0]} rows (want 2^m)")
    return F, G, mm


def unembedding_steering_vectors(G, concept: int) -> np.ndarray:
    """Δ_{c,i} = g(c^(i→1)) − g(c^(i→0)) for every c, ``(2^(m−1), dim)`` (Jiang et al. Sec. 3)."""
    G = np.asarray(G, float)
    m = int(round(np.log2(G.shape[0])))
    if not 0 <= concept < m:
        raise InvalidInputError(f"concept must be in [0, {m}), got {concept}")
    c = all_concept_vectors(m)
    base = np.flatnonzero(c[:, concept] == 0)
    return G[base + (1 << concept)] - G[base]


def embedding_steering_vectors(F, concept: int) -> np.ndarray:
    """f(d^(i→1)) − f(d^(i→0)) for every d (other entries free), ``(3^(m−1), dim)``."""
    F = np.asarray(F, float)
    m = int(round(np.log(F.shape[0]) / np.log(3)))
    if 3 ** m != F.shape[0] or not 0 <= concept < m:
        raise InvalidInputError(f"F must have 3^m rows and concept in [0, m); got {F.shape[0]} rows, "
                                f"concept {concept}")
    d = all_contexts(m)
    base = np.flatnonzero(d[:, concept] == UNKNOWN)
    return F[base + 2 * 3 ** concept] - F[base + 3 ** concept]


def _unit_rows(X: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(X, axis=1, keepdims=True)
    return X / np.where(n > 0, n, 1.0)


def mean_pairwise_cosine(X) -> float:
    """Mean cosine over all pairs of distinct rows of ``X`` (``(n, dim)``, n ≥ 2).

    Examples
    --------
    Rows e₁, e₁ and e₂: the three pairs have cosines 1, 0, 0.

    >>> round(mean_pairwise_cosine([[2.0, 0.0], [1.0, 0.0], [0.0, 3.0]]), 12)
    0.333333333333
    """
    X = np.asarray(X, float)
    if X.ndim != 2 or len(X) < 2:
        raise InvalidInputError(f"need at least two vectors, got shape {X.shape}")
    U = _unit_rows(X)
    s = U.sum(0)
    n = len(U)
    # Σ_{a≠b} u_a·u_b = ‖Σ u‖² − Σ ‖u‖²
    return float((s @ s - (U * U).sum()) / (n * (n - 1)))


def mean_cross_cosine(X, Y) -> float:
    """Mean cosine between every row of ``X`` and every row of ``Y``.

    Examples
    --------
    >>> round(mean_cross_cosine([[1.0, 0.0]], [[1.0, 1.0], [0.0, -1.0]]), 12)
    0.353553390593
    """
    U, W = _unit_rows(np.asarray(X, float)), _unit_rows(np.asarray(Y, float))
    return float(U.sum(0) @ W.sum(0) / (len(U) * len(W)))


@dataclasses.dataclass(frozen=True)
class SteeringCosines:
    """Jiang et al.'s metrics for one trained model (each per concept, ``(m,)``).

    ``unembedding``: mean pairwise cos of Δ_{c,i} over c; ``embedding``: the same for the
    embedding steering vectors over d; ``mixed``: mean cos between the two sets;
    ``heatmap[i, j]``: mean cos(Δ_{c,i}, Δ_{c',j}) (diagonal = ``unembedding``).
    """

    unembedding: np.ndarray
    embedding: np.ndarray
    mixed: np.ndarray
    heatmap: np.ndarray

    def means(self) -> dict:
        """Averages over concepts, and the mean |cos| off the heatmap's diagonal."""
        m = len(self.unembedding)
        off = np.abs(self.heatmap[~np.eye(m, dtype=bool)]) if m > 1 else np.zeros(1)
        return {"unembedding": float(self.unembedding.mean()), "embedding": float(self.embedding.mean()),
                "mixed": float(self.mixed.mean()), "across_abs": float(off.mean())}


def steering_cosines(F, G) -> SteeringCosines:
    """Within-concept cosines in unembedding/embedding space, across spaces, and the heatmap."""
    F, G, m = _check_tables(F, G)
    if m < 2:
        raise InvalidInputError("within-concept cosines need m >= 2 (one steering vector per concept otherwise)")
    U = [unembedding_steering_vectors(G, i) for i in range(m)]
    E = [embedding_steering_vectors(F, i) for i in range(m)]
    heat = np.array([[mean_pairwise_cosine(U[i]) if i == j else mean_cross_cosine(U[i], U[j])
                      for j in range(m)] for i in range(m)])
    return SteeringCosines(unembedding=np.diag(heat).copy(),
                           embedding=np.array([mean_pairwise_cosine(e) for e in E]),
                           mixed=np.array([mean_cross_cosine(u, e) for u, e in zip(U, E)]),
                           heatmap=heat)


def learned_log_odds(F, G, concept: int) -> np.ndarray:
    """ln p̂(c^(i→0) | d) / p̂(c^(i→1) | d) = −f(d)ᵀΔ_{c,i}, ``(3^(m−1), 2^(m−1))``.

    Rows are the contexts with d_i = ⋄ (in index order), columns the c with c_i = 0.
    The softmax normaliser cancels in the ratio, so this is exact.
    """
    F, G, m = _check_tables(F, G)
    d = all_contexts(m)
    return -F[d[:, concept] == UNKNOWN] @ unembedding_steering_vectors(G, concept).T


def log_odds_matching_residual(F, G, model: LatentConceptModel) -> np.ndarray:
    """Per concept, max |learned log-odds − prior log-odds| over c and d with d_i = ⋄, ``(m,)``.

    Zero means the log-odds-matching assumption of Jiang et al. Thm 3 holds exactly:
    ln p̂(c^(i→0)|d)/p̂(c^(i→1)|d) = ln p(C^i=0)/p(C^i=1) for all c and all d with d_i = ⋄.
    """
    F, G, m = _check_tables(F, G, model.n_concepts)
    alpha = model.prior_log_odds()
    return np.array([np.abs(learned_log_odds(F, G, i) - alpha[i]).max() for i in range(m)])


def ambiguous_span_projector(F, concept: int, *, rtol: float = 1e-10) -> np.ndarray:
    """Π_i: orthogonal projector onto span{f(d) : d_i = ⋄}, ``(dim, dim)`` (Jiang et al. Thm 3)."""
    F = np.asarray(F, float)
    m = int(round(np.log(F.shape[0]) / np.log(3)))
    d = all_contexts(m)
    A = F[d[:, concept] == UNKNOWN]
    _, s, vt = np.linalg.svd(A, full_matrices=False)
    r = int((s > rtol * max(s[0], 1e-300)).sum()) if len(s) else 0
    return vt[:r].T @ vt[:r]


def projected_steering_vectors(F, G, concept: int) -> np.ndarray:
    """Δ̄_{c,i} = Π_i Δ_{c,i} for every c, ``(2^(m−1), dim)``; parallel under log-odds matching (Thm 3)."""
    return unembedding_steering_vectors(G, concept) @ ambiguous_span_projector(F, concept)


def log_odds_matching_tables(model: LatentConceptModel, *, margin: float = 8.0, extra_dims: int = 0,
                             rng: np.random.Generator | None = None, noise: float = 1.0):
    """Tables (F, G) for independent concepts that satisfy log-odds matching exactly.

    Construction (ours, to make Thm 3 checkable): with a_i = ln P(C^i=1)/P(C^i=0),
    f(d) has coordinates a_i·[d_i = ⋄] and margin·(2d_i − 1)·[d_i ≠ ⋄]; g(c) has c_i and
    (2c_i − 1)/2. Then f(d)ᵀg(c) = Σ_{free i} a_i c_i ± margin/2 per fixed entry, so the
    free concepts have exactly their prior log-odds and the fixed ones approach
    p(c | d) as ``margin`` grows. ``extra_dims`` coordinates on which every f(d) is zero
    get Gaussian noise in g, so the raw steering vectors are *not* parallel but their
    projections Π_i Δ are (Thm 3). A random rotation hides the coordinates.

    Returns ``(F (3^m, 2m + extra_dims), G (2^m, 2m + extra_dims))``.
    """
    if not model.is_independent:
        raise InvalidInputError("the exact construction needs independent concepts (no DAG edges)")
    rng = np.random.default_rng(0) if rng is None else rng
    m = model.n_concepts
    q = model.marginals()
    a = np.log(q) - np.log1p(-q)
    d = all_contexts(m)
    c = all_concept_vectors(m)
    F = np.concatenate([a * (d == UNKNOWN), margin * (2 * d - 1) * (d != UNKNOWN),
                        np.zeros((len(d), extra_dims))], axis=1)
    G = np.concatenate([c.astype(float), (2 * c - 1) / 2.0, noise * rng.standard_normal((len(c), extra_dims))],
                       axis=1)
    Q, _ = np.linalg.qr(rng.standard_normal((F.shape[1], F.shape[1])))
    return F @ Q, G @ Q

