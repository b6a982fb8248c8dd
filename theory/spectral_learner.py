"""Spectral (Hankel / weighted-automaton) learning from samples only — the baseline.

The classical method for low-rank sequence models (Hsu, Kakade, Zhang 2012; Balle,
Carreras, Luque, Quattoni 2014) estimates a Hankel matrix of probabilities from samples,
factorises it with a truncated SVD and reads off a weighted finite automaton (WFA). Our
targets have a fixed horizon T and time-varying structure (a time-varying ISAN, noisy
parity), so we use the *cut-wise* (time-varying) form, one Hankel block per cut t:

    H_t(u, v)    = P(y_{1:t} = u, y_{t+1:t+|v|} = v)        u ∈ P_t (length t), v ∈ S_t
    H_{t,σ}(u,v) = P(y_{1:t} = u, y_{t+1} = σ, y_{t+2:…} = v)  v ∈ S_{t+1}

with P_t the most frequent length-t prefixes and S_t the most frequent suffix strings
starting at position t+1 (any length ≤ T − t, the empty one always included). With the
truncated SVD H_t ≈ U_t D_t V_tᵀ of rank k_t:

    α_0 = H_0(λ, ·) V_0,   A_{t,σ} = (H_t V_t)⁺ H_{t,σ} V_{t+1},   β_t = (H_t V_t)⁺ H_t(·, λ),
    P̂(y_{1:t}) = α_0ᵀ A_{0,y_1} ⋯ A_{t−1,y_t} β_t                (Balle et al. 2014, §3).

For a model with probability rank k (an HMM with k states) every H_t has rank ≤ k and the
WFA is exact in the limit of infinitely many samples.

A WFA can assign *negative* values to strings (it is only a linear function, not a
probabilistic automaton). The learned :class:`SpectralModel` turns it into a proper
sequence model by computing the unnormalised next-token scores
q_σ = α_0ᵀ A_{0,y_1} ⋯ A_{t,σ} β_{t+1}, clipping them at ``min_prob``·Σ|q| and
renormalising over σ (all scores ≤ 0 give the uniform distribution). This is a
documented deviation from the raw WFA: the model is always a distribution.

References
----------
Hsu, Kakade, Zhang (2012), "A spectral algorithm for learning hidden Markov models",
JCSS 78(5), arXiv:0811.4413.
Balle, Carreras, Luque, Quattoni (2014), "Spectral learning of weighted automata: a
forward-backward perspective", Machine Learning 96(1–2):33–63.
"""

from __future__ import annotations

import math

import numpy as np

from logitrank.errors import BudgetExhaustedError, InvalidInputError
from logitrank.theory.oracles import SampleOracle
from logitrank.theory.sequence_model import SequenceModel

__all__ = ["SpectralModel", "SpectralLearner"]


class SpectralModel(SequenceModel):
    """A time-varying WFA (α_0, A_{t,σ}, β_t) used as a normalised sequence model.

    Parameters
    ----------
    alpha0 : (k_0,) initial weights.
    operators : list over t = 0 … T−1 of arrays (V, k_t, k_{t+1}).
    betas : list over t = 0 … T of (k_t,) termination weights.
    min_prob : clipping floor (relative) for negative or tiny next-token scores.
    """

    def __init__(self, alpha0, operators, betas, vocab_size: int, horizon: int,
                 min_prob: float = 1e-6) -> None:
        self.alpha0 = np.asarray(alpha0, dtype=np.float64)
        self.operators = [np.asarray(A, dtype=np.float64) for A in operators]
        self.betas = [np.asarray(b, dtype=np.float64) for b in betas]
        self.vocab_size, self.horizon = int(vocab_size), int(horizon)
        if len(self.operators) != self.horizon or len(self.betas) != self.horizon + 1:
            raise InvalidInputError("need T operators and T + 1 termination vectors")
        self.min_prob = float(min_prob)

    def states(self, prefixes) -> np.ndarray:
        """Forward states α_0ᵀ A_{0,y_1} ⋯ (rescaled to unit norm; the scale cancels)."""
        arr = self.validate_prefixes(prefixes)
        s = np.broadcast_to(self.alpha0, (arr.shape[0], self.alpha0.size)).copy()
        for j in range(arr.shape[1]):
            s = np.einsum("nk,nkl->nl", s, self.operators[j][arr[:, j]])
            norm = np.linalg.norm(s, axis=1, keepdims=True)
            s = s / np.where(norm > 0, norm, 1.0)
        return s

    def next_token_scores(self, prefixes) -> np.ndarray:
        """Unnormalised WFA scores q_σ ∝ P̂(y_{1:t} σ), possibly negative, ``(n, V)``."""
        arr = self.validate_prefixes(prefixes)
        t = arr.shape[1]
        s = self.states(arr)
        return np.einsum("nk,vkl,l->nv", s, self.operators[t], self.betas[t + 1])

    def _logits(self, prefixes: np.ndarray) -> np.ndarray:
        q = self.next_token_scores(prefixes)
        scale = np.abs(q).sum(axis=1, keepdims=True)
        p = np.maximum(q, self.min_prob * scale)
        tot = p.sum(axis=1, keepdims=True)
        p = np.where(tot > 0, p / np.where(tot > 0, tot, 1.0), 1.0 / self.vocab_size)
        p = np.maximum(p, 1e-300)
        return np.log(p)


def _unique_ids(block: np.ndarray, base: int) -> tuple[int, np.ndarray]:
    """Number of distinct rows and each row's id (rows read as base-|Σ| integers when they fit)."""
    if block.shape[1] == 0:
        return 1, np.zeros(block.shape[0], dtype=np.int64)
    if block.shape[1] * np.log2(max(base, 2)) < 62:
        codes = block @ (base ** np.arange(block.shape[1], dtype=np.int64))
        uniq, inv = np.unique(codes, return_inverse=True)
    else:
        uniq, inv = np.unique(block, axis=0, return_inverse=True)
    return len(uniq), inv.reshape(-1)


class SpectralLearner:
    """Spectral WFA learner from i.i.d. samples (the sample-only baseline).

    Parameters
    ----------
    n_samples : int, default 10000
        Number of samples to draw from the sample oracle (its budget permitting).
    rank : int or None
        Rank k of the truncated SVD at each cut (capped by the Hankel block's size). None
        picks, per cut, the singular values above the sampling-noise level
        sqrt(max H / N)·(√|P_t| + √|S_t|).
    n_basis : int, default 256
        Maximum number of prefixes |P_t| and suffixes |S_t| per cut (most frequent).
    max_suffix_length : int or None
        Longest suffix in S_t (default: up to the horizon).
    horizon : int or None
        T (default: the sample oracle's length).
    min_prob : float, default 1e-6
        Relative floor used when clipping negative WFA scores (see module docstring).

    Attributes
    ----------
    model_ : SpectralModel
    ranks_ : list of int — k_t per cut.
    singular_values_ : list of arrays — spectrum of each H_t.
    n_samples_ : int — samples used; n_queries_ : int — always 0 (samples only).
    budget_exhausted_ : bool — the sample budget ran out before ``n_samples``.

    References
    ----------
    Balle, Carreras, Luque, Quattoni (2014), Machine Learning 96:33–63, §3 (spectral WFA
    learning); Hsu, Kakade, Zhang (2012), JCSS 78(5) (HMMs).
    """

    def __init__(self, n_samples: int = 10_000, *, rank: int | None = None, n_basis: int = 256,
                 max_suffix_length: int | None = None, horizon: int | None = None,
                 min_prob: float = 1e-6) -> None:
        self.n_samples = n_samples
        self.rank = rank
        self.n_basis = n_basis
        self.max_suffix_length = max_suffix_length
        self.horizon = horizon
        self.min_prob = min_prob

    def _check(self, sample_oracle) -> int:
        for name in ("n_samples", "n_basis"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise InvalidInputError(f"{name} must be a positive integer, got {v!r}")
        for name in ("rank", "max_suffix_length"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1):
                raise InvalidInputError(f"{name} must be a positive integer or None, got {v!r}")
        if not isinstance(sample_oracle, SampleOracle):
            raise InvalidInputError("sample_oracle must be a logitrank.theory.oracles.SampleOracle")
        T = self.horizon if self.horizon is not None else sample_oracle.length
        if isinstance(T, bool) or not isinstance(T, (int, np.integer)) or not 1 <= T <= sample_oracle.length:
            raise InvalidInputError(
                f"horizon T={T} is out of range: need 1 <= T <= sample length {sample_oracle.length}")
        return int(T)

    def fit(self, sample_oracle: SampleOracle) -> "SpectralLearner":
        """Draw samples and fit the WFA; returns self."""
        T = self._check(sample_oracle)
        V = sample_oracle.vocab_size
        n0 = sample_oracle.n_samples
        self.budget_exhausted_ = False
        n = int(self.n_samples)
        if sample_oracle.remaining is not None and sample_oracle.remaining < n:
            n = sample_oracle.remaining
            self.budget_exhausted_ = True
        if n == 0:
            Y = np.zeros((0, T), dtype=np.int64)
        else:
            try:
                Y = sample_oracle.sample(n)[:, :T]
            except BudgetExhaustedError:  # pragma: no cover - guarded above
                self.budget_exhausted_ = True
                Y = np.zeros((0, T), dtype=np.int64)
        self.n_samples_ = sample_oracle.n_samples - n0
        self.n_queries_ = 0
        self.model_ = self._fit_samples(Y, V, T)
        return self

    def _fit_samples(self, Y: np.ndarray, V: int, T: int) -> SpectralModel:
        N = Y.shape[0]
        if N == 0:   # nothing learned: the uniform model
            return SpectralModel(np.ones(1), [np.ones((V, 1, 1))] * T, [np.ones(1)] * (T + 1), V, T)
        m = int(self.n_basis)
        Lmax = self.max_suffix_length
        # Prefix basis P_t and each sample's row index (−1 if its prefix is not in P_t).
        prow = []
        for t in range(T + 1):
            n_keys, inv = _unique_ids(Y[:, :t], V)
            counts = np.bincount(inv, minlength=n_keys)
            top = np.argsort(-counts, kind="stable")[:m]
            mapping = np.full(n_keys, -1)
            mapping[top] = np.arange(len(top))
            prow.append(mapping[inv])
        # Suffix basis S_t: most frequent strings starting at position t (λ first).
        scol, sizes = [], []
        for t in range(T + 1):
            L = T - t if Lmax is None else min(T - t, Lmax)
            cand = []                                  # (count, ℓ, unique-id, inverse)
            per_len = []
            for ell in range(L + 1):
                n_keys, inv = _unique_ids(Y[:, t:t + ell], V)
                counts = np.bincount(inv, minlength=n_keys)
                per_len.append(inv)
                top = np.argsort(-counts, kind="stable")[:m]    # only these can make the global top m
                cand += [(int(counts[i]), ell, int(i)) for i in top]
            cand.sort(key=lambda x: (-x[0], x[1], x[2]))
            chosen = cand[:m]
            cols = []
            for ell in range(L + 1):
                mapping = np.full(per_len[ell].max() + 1, -1)
                for j, (_, e, i) in enumerate(chosen):
                    if e == ell:
                        mapping[i] = j
                cols.append(mapping[per_len[ell]])
            scol.append(cols)
            sizes.append(len(chosen))
        nP = [int(p.max()) + 1 for p in prow]

        def hankel(t_pref: int, t_suf: int, sel: np.ndarray) -> np.ndarray:
            H = np.zeros((nP[t_pref], sizes[t_suf]))
            for cols in scol[t_suf]:
                ok = sel & (prow[t_pref] >= 0) & (cols >= 0)
                np.add.at(H, (prow[t_pref][ok], cols[ok]), 1.0)
            return H / N

        everyone = np.ones(N, dtype=bool)
        Vs, HV_pinv, self.singular_values_, ranks = [], [], [], []
        Hs = [hankel(t, t, everyone) for t in range(T + 1)]
        for t, H in enumerate(Hs):
            _, s, Vt = np.linalg.svd(H, full_matrices=False)
            if self.rank is None:
                noise = math.sqrt(H.max() / N) * (math.sqrt(H.shape[0]) + math.sqrt(H.shape[1]))
                k = max(1, int(np.sum(s > noise)))
            else:
                k = min(int(self.rank), len(s))
            k = min(k, int(np.sum(s > 1e-12 * s[0]))) if s[0] > 0 else 1
            k = max(k, 1)
            Vs.append(Vt[:k].T)
            HV_pinv.append(np.linalg.pinv(H @ Vt[:k].T))
            self.singular_values_.append(s)
            ranks.append(k)
        self.ranks_ = ranks
        alpha0 = (Hs[0] @ Vs[0])[0]                   # P_0 = {λ}
        betas = [HV_pinv[t] @ Hs[t][:, 0] for t in range(T + 1)]   # column 0 is λ
        ops = []
        for t in range(T):
            A = np.zeros((V, ranks[t], ranks[t + 1]))
            for z in range(V):
                Hz = hankel(t, t + 1, Y[:, t] == z) if nP[t] else np.zeros((0, sizes[t + 1]))
                # H_{t,σ}: prefix at cut t, then σ, then a suffix of S_{t+1} from position t+2.
                A[z] = HV_pinv[t] @ Hz @ Vs[t + 1]
            ops.append(A)
        return SpectralModel(alpha0, ops, betas, V, T, self.min_prob)
