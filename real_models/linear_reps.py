"""Linear concept directions in a real LM: counterfactual pairs, two inner products, steering, the bridge.

Park, Choe, Veitch (2024), "The Linear Representation Hypothesis and the Geometry of Large
Language Models": a concept W (male⇒female, …) is represented in the unembedding space by
the differences γ(y(1)) − γ(y(0)) of counterfactual token pairs (Def. 2.1); the causal
inner product ⟨x, y⟩_C = xᵀ Cov(γ)⁻¹ y (eq. 3.3, γ the unembedding rows) makes causally
separable concepts orthogonal; the embedding (steering) representation is
λ̄_W = Cov(γ)⁻¹ γ̄_W (eq. 4.1) and λ(x) + α λ̄_W steers the next token (eq. 4.2).
Jiang et al. (2024) measure linearity as the mean pairwise cosine of the differences
within a concept against the cosines across concepts.

The bridge to the logit lens: for a transformer the centered logit is
L[z | p] = φ(p)ᵀ(ψ(z) − ψ̄), with φ(p) the final-norm hidden state and ψ the LM-head
rows (no bias), so every logit matrix factors through the unembedding geometry. γ and φ
come from the model object: :meth:`HFCausalLM.unembedding` and
:meth:`HFCausalLM.final_hidden_states` (:mod:`logitrank.real_models.adapter`).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from logitrank.errors import InvalidInputError
from logitrank.theory.concepts import mean_cross_cosine, mean_pairwise_cosine

__all__ = [
    "ConceptPairs",
    "filter_single_token_pairs",
    "causal_whitening",
    "CausalGeometry",
    "concept_cosine_tables",
    "ConceptCosines",
    "steering_ranks",
    "centered_logit_identity_error",
    "concept_row_space_fraction",
]


@dataclasses.dataclass(frozen=True)
class ConceptPairs:
    """Counterfactual token pairs per concept after single-token filtering.

    ``token_pairs[name]``: ``(n, 2)`` int array (base, target); ``words[name]``: the kept
    word pairs; ``skipped[name]``: the dropped word pairs with the reason.
    """

    token_pairs: dict
    words: dict
    skipped: dict

    @property
    def concepts(self) -> list:
        return list(self.token_pairs)

    def counts(self) -> dict:
        """Kept and skipped pair counts per concept."""
        return {k: {"kept": len(self.token_pairs[k]), "skipped": len(self.skipped.get(k, []))}
                for k in self.token_pairs}


def filter_single_token_pairs(tokenizer, word_pairs: dict, *, leading_space: bool = True,
                              min_pairs: int = 2, warn=None) -> ConceptPairs:
    """Keep the pairs whose two words are each one token and differ (Park et al. code, step 4).

    Parameters
    ----------
    tokenizer : a Hugging Face tokenizer.
    word_pairs : ``{concept: [(base, target), …]}``.
    leading_space : tokenise ``" " + word`` (a word inside a sentence in byte-level BPE).
    min_pairs : concepts with fewer kept pairs are dropped (and reported as skipped).
    warn : callable receiving one line per concept with skipped pairs (default: nothing is
        printed, but every skip is recorded in ``skipped`` — never silently lost).

    Raises
    ------
    InvalidInputError
        if ``word_pairs`` is empty, a concept has no pairs, or no concept survives.
    """
    if not word_pairs:
        raise InvalidInputError("the concept set is empty: give at least one concept with word pairs")
    token_pairs, words, skipped = {}, {}, {}
    for name, pairs in word_pairs.items():
        if not pairs:
            raise InvalidInputError(f"concept {name!r} has no word pairs")
        kept, kept_w, bad = [], [], []
        seen = set()
        for pair in pairs:
            if len(pair) != 2 or not all(isinstance(w, str) and w for w in pair):
                raise InvalidInputError(f"concept {name!r}: each pair must be two non-empty strings, got {pair!r}")
            ids = [tokenizer.encode((" " if leading_space else "") + w, add_special_tokens=False) for w in pair]
            if any(len(i) != 1 for i in ids):
                bad.append((pair, "not a single token: " + " / ".join(str(len(i)) for i in ids) + " tokens"))
            elif ids[0][0] == ids[1][0]:
                bad.append((pair, "base and target are the same token"))
            elif (ids[0][0], ids[1][0]) in seen:
                bad.append((pair, "duplicate pair"))
            else:
                seen.add((ids[0][0], ids[1][0]))
                kept.append((ids[0][0], ids[1][0]))
                kept_w.append(tuple(pair))
        if len(kept) < min_pairs:
            bad.append((("*", "*"), f"concept dropped: only {len(kept)} single-token pairs (< {min_pairs})"))
            skipped[name] = bad
            if warn:
                warn(f"{name}: dropped, only {len(kept)} single-token pairs")
            continue
        token_pairs[name] = np.array(kept, dtype=np.int64)
        words[name] = kept_w
        skipped[name] = bad
        if bad and warn:
            warn(f"{name}: kept {len(kept)} pairs, skipped {len(bad)} ({bad[0][0]}: {bad[0][1]}, …)")
    if not token_pairs:
        raise InvalidInputError("no concept has enough single-token pairs; check the tokenizer and word lists")
    return ConceptPairs(token_pairs=token_pairs, words=words, skipped=skipped)


@dataclasses.dataclass(frozen=True)
class CausalGeometry:
    """Cov(γ) and its whitening: ⟨x, y⟩_C = xᵀ Cov(γ)⁻¹ y (Park et al. eq. 3.3).

    ``mean``: γ̄; ``cov``: Cov(γ) = (γ − γ̄)ᵀ(γ − γ̄)/V; ``inv_sqrt``: Cov^{−1/2};
    ``eigenvalues``: of Cov (ascending); ``ridge``: the εI added before inverting.
    """

    mean: np.ndarray
    cov: np.ndarray
    inv_sqrt: np.ndarray
    eigenvalues: np.ndarray
    ridge: float

    def whiten(self, X) -> np.ndarray:
        """g = x Cov^{−1/2}: Euclidean products of whitened vectors are causal products."""
        return np.asarray(X, float) @ self.inv_sqrt

    def steering_vector(self, direction) -> np.ndarray:
        """λ̄_W = Cov⁻¹ γ̄_W / ‖γ̄_W‖_C: unit causal norm (Park et al. eq. 4.1)."""
        g = self.whiten(direction)
        return (g / np.linalg.norm(g)) @ self.inv_sqrt


def causal_whitening(gamma, *, rel_ridge: float = 1e-8) -> CausalGeometry:
    """Estimate the causal inner product from unembedding rows ``gamma (V, d)``.

    A ridge ``rel_ridge · max eigenvalue`` guards against a singular Cov (Park et al. used
    plain eigh; we state the ridge in the result).
    """
    gamma = np.asarray(gamma, float)
    if gamma.ndim != 2 or gamma.shape[0] <= gamma.shape[1]:
        raise InvalidInputError(f"gamma must be (vocab, hidden) with vocab > hidden, got {gamma.shape}")
    mu = gamma.mean(0)
    Z = gamma - mu
    cov = Z.T @ Z / len(Z)
    cov = (cov + cov.T) / 2
    w, U = np.linalg.eigh(cov)
    ridge = rel_ridge * w[-1]
    inv_sqrt = (U / np.sqrt(np.maximum(w, 0) + ridge)) @ U.T
    return CausalGeometry(mean=mu, cov=cov, inv_sqrt=inv_sqrt, eigenvalues=w, ridge=float(ridge))


@dataclasses.dataclass(frozen=True)
class ConceptCosines:
    """Cosines between concepts under one inner product.

    ``pairwise[a, b]``: Jiang et al.'s metric — mean cos between the differences of concept
    a and those of concept b (distinct pairs only on the diagonal); ``directions[a, b]``:
    Park et al.'s — cos between the normalised mean differences. ``within``/``across``:
    mean of the diagonal / off-diagonal of ``pairwise``; ``n_pairs``: pairs per concept.
    """

    concepts: tuple
    pairwise: np.ndarray
    directions: np.ndarray
    n_pairs: np.ndarray

    @property
    def within(self) -> float:
        return float(np.diag(self.pairwise).mean())

    @property
    def across(self) -> float:
        k = len(self.concepts)
        return float(self.pairwise[~np.eye(k, dtype=bool)].mean()) if k > 1 else float("nan")

    @property
    def across_abs(self) -> float:
        k = len(self.concepts)
        return float(np.abs(self.pairwise[~np.eye(k, dtype=bool)]).mean()) if k > 1 else float("nan")


def concept_cosine_tables(vectors, pairs: ConceptPairs) -> ConceptCosines:
    """Within/across-concept cosines of unembedding differences (rows of ``vectors`` are tokens).

    Pass raw γ for the Euclidean inner product, ``geometry.whiten(γ)`` for the causal one.
    """
    X = np.asarray(vectors, float)
    names = pairs.concepts
    D = [X[tp[:, 1]] - X[tp[:, 0]] for tp in pairs.token_pairs.values()]
    k = len(D)
    pw = np.array([[mean_pairwise_cosine(D[a]) if a == b else mean_cross_cosine(D[a], D[b])
                    for b in range(k)] for a in range(k)])
    dirs = np.array([d.mean(0) for d in D])
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    return ConceptCosines(concepts=tuple(names), pairwise=pw, directions=dirs @ dirs.T,
                          n_pairs=np.array([len(d) for d in D]))


def steering_ranks(lm, prompt: str, direction_vector, alphas, *, watch=(), top_k: int = 5):
    """Next-token ranking after λ(x) + α·v for each α (Park et al. eq. 4.2, Table 1).

    ``direction_vector``: the steering vector v in hidden space (e.g.
    :meth:`CausalGeometry.steering_vector`). Returns a list of dicts per α with the top-k
    tokens and the rank (0 = top) and logit of each ``watch`` word. ``lm``: an
    :class:`~logitrank.real_models.adapter.HFCausalLM` with a tokenizer.
    """
    tokenizer = lm.tokenizer
    gamma = lm.unembedding()
    h = lm.final_hidden_states([prompt])[0]
    v = np.asarray(direction_vector, float)
    watch_ids = {w: tokenizer.encode(w, add_special_tokens=False) for w in watch}
    rows = []
    for a in alphas:
        logits = gamma @ (h + a * v)
        order = np.argsort(-logits)
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        rows.append({"alpha": float(a), "top": [tokenizer.decode([int(t)]) for t in order[:top_k]],
                     "watch": {w: {"rank": int(rank[i[0]]), "logit": float(logits[i[0]])}
                               for w, i in watch_ids.items() if len(i) == 1}})
    return rows


@torch.no_grad()
def centered_logit_identity_error(lm, input_ids) -> dict:
    """Check L[z | p] = φ(p)ᵀ(ψ(z) − ψ̄) at every position of ``input_ids (n, t)``.

    Left: the model's logits minus their vocabulary mean. Right: final-norm hidden state
    times the centered LM-head rows. Returns the max absolute and max relative error and
    the scale of the centered logits. ``lm``: an :class:`~logitrank.real_models.adapter.HFCausalLM`.
    """
    x = torch.as_tensor(np.asarray(input_ids), dtype=torch.long, device=lm.device)
    if x.ndim != 2 or x.shape[1] == 0:
        raise InvalidInputError(f"input_ids must be (n, t) with t >= 1, got shape {tuple(x.shape)}")
    model = lm.model
    phi = lm.decoder()(input_ids=x).last_hidden_state.double()
    logits = model(input_ids=x).logits.double()
    left = logits - logits.mean(-1, keepdim=True)
    psi = model.get_output_embeddings().weight.double()
    right = phi @ (psi - psi.mean(0, keepdim=True)).T
    err = (left - right).abs().max().item()
    scale = left.abs().max().item()
    return {"max_abs_error": err, "max_rel_error": err / max(scale, 1e-300), "logit_scale": scale,
            "n_positions": int(x.shape[0] * x.shape[1])}


def concept_row_space_fraction(hidden_states, gamma, directions, *, rtol: float = 1e-6) -> dict:
    """How much of each concept's logit-space vector lies in the row space of a logit matrix.

    The centered logit matrix of n contexts is L = Φ (Ψ − ψ̄)ᵀ, ``(n, V)``; its row space is
    (Ψ − ψ̄)·row(Φ). A concept direction γ̄_W ∈ ℝ^d acts on the logits of all tokens as the
    vector (Ψ − ψ̄)γ̄_W ∈ ℝ^V; we report the fraction of its squared norm inside row(L),
    and the rank of L. When the contexts' hidden states span ℝ^d the fraction is 1:
    concept directions then live in the row space of the logit matrix.

    Parameters
    ----------
    hidden_states : Φ, ``(n, d)``; gamma : Ψ, ``(V, d)``; directions : ``(k, d)`` or ``(d,)``.

    Returns
    -------
    dict with ``rank``, ``n_contexts`` and ``fractions`` (length k).
    """
    Phi = np.asarray(hidden_states, float)
    G = np.asarray(gamma, float)
    D = np.atleast_2d(np.asarray(directions, float))
    Gc = G - G.mean(0)
    M = Gc.T @ Gc                                   # (d, d); row(L) = Gc · row(Φ)
    # row(Φ) from the SVD of the small (n, d) matrix; L's row space is spanned by Gc Qᵀ, so
    # projections reduce to d-dimensional algebra with M = Gcᵀ Gc (no V-sized matrices).
    _, s, vt = np.linalg.svd(Phi, full_matrices=False)
    Q = vt[s > rtol * s[0]]                        # (r, d) orthonormal rows
    A = Q @ M @ Q.T                                 # Gram matrix of the spanning set Gc Qᵀ
    b = Q @ M @ D.T                                 # (r, k) = (Gc Qᵀ)ᵀ (Gc δ)
    inside = np.einsum("rk,rk->k", b, np.linalg.solve(A, b))
    total = np.einsum("kd,de,ke->k", D, M, D)
    return {"rank": int(len(Q)), "n_contexts": len(Phi), "fractions": (inside / total).tolist()}
