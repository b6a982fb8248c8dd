"""LINGEN: linear generation from the rows of other histories (Golowich, Liu, Shetty 2025, §3, Alg. 1).

A low-rank extended logit matrix has linear relations between its rows. LINGEN writes the
target history's row as a combination of the rows of a set H of other histories,
vᵀ L(H, F) ≈ L({h_targ}, F), and then generates *without ever querying the target*: at
step t it queries the centered logits of every h ∘ z_{1:t−1}, h ∈ H, combines them as
Σ_h v_h L[· | h ∘ z_{1:t−1}] and samples from the softmax.

On a time-varying ISAN whose histories span the target's state, the combination is exact
at every step (the state map x ↦ A_{z,t} x is linear), so the per-step KL is 0.

Evaluation (:func:`lingen_evaluate`) reports the per-step KL(P_true ‖ P_method) — the true
model's next-token distribution after target∘z_{<t} against the method's — averaged over
trajectories sampled from the method itself, and its sum over the steps. Baselines:
``next_token_only`` (the same fit using F = {∅}, i.e. only next-token logits) and
``last_m_tokens`` (the true model conditioned on the last m tokens of the target prompt).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from logitrank.errors import InvalidInputError
from logitrank.theory.logit_matrix import centered_logits_of, extended_logit_matrix
from logitrank.theory.sequence_model import SequenceModel, log_softmax, sample_from_logits

__all__ = ["LinGen", "lingen_step_logits", "lingen_generate", "LinGenEvaluation", "lingen_evaluate",
           "lingen_score", "hidden_space_rows", "METHODS"]

METHODS = ("lstsq", "ridge", "min_norm")


class LinGen:
    """Fit LINGEN coefficients v with vᵀ L(H, F) ≈ ℓ_target.

    Parameters
    ----------
    method : ``"lstsq"`` (least squares, LAPACK ``gelsd``: minimum-norm among least-squares
        solutions with the default cutoff), ``"ridge"`` (v = (L Lᵀ + λI)⁻¹ L ℓ with
        λ = ``ridge`` · tr(L Lᵀ)/|H|, scale-free), or ``"min_norm"`` (pseudo-inverse truncated
        at singular values below ``rtol``·σ_1).
    ridge : relative ridge strength for ``"ridge"``.
    rtol : relative singular-value cutoff for ``"min_norm"``.

    Attributes
    ----------
    coef_ : (|H|,) the coefficients v.
    residual_ : relative residual ‖vᵀL − ℓ‖ / ‖ℓ‖ on the fitting columns.

    References
    ----------
    Golowich, Liu, Shetty (2025), §3, Algorithm 1 (LINGEN).

    Examples
    --------
    A target row that is 2·(row 0) − (row 1) is reproduced exactly:

    >>> L = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    >>> fit = LinGen().fit(L, 2 * L[0] - L[1])
    >>> np.round(fit.coef_, 12).tolist(), round(fit.residual_, 12)
    ([2.0, -1.0], 0.0)
    """

    def __init__(self, *, method: str = "lstsq", ridge: float = 1e-6, rtol: float = 1e-10):
        self.method, self.ridge, self.rtol = method, ridge, rtol

    def fit(self, history_matrix, target_row) -> "LinGen":
        L = np.asarray(history_matrix, dtype=np.float64)
        y = np.asarray(target_row, dtype=np.float64).ravel()
        if L.ndim != 2 or L.shape[0] == 0 or L.shape[1] != y.shape[0]:
            raise InvalidInputError(
                f"history_matrix must be (|H|, C) and target_row (C,); got {L.shape} and {y.shape}")
        if not (np.all(np.isfinite(L)) and np.all(np.isfinite(y))):
            raise InvalidInputError("history_matrix and target_row must be finite")
        if self.method == "lstsq":
            v = np.linalg.lstsq(L.T, y, rcond=None)[0]
        elif self.method == "ridge":
            if self.ridge <= 0:
                raise InvalidInputError(f"ridge must be > 0, got {self.ridge}")
            G = L @ L.T
            lam = self.ridge * np.trace(G) / L.shape[0]
            v = np.linalg.solve(G + lam * np.eye(L.shape[0]), L @ y)
        elif self.method == "min_norm":
            U, s, Vt = np.linalg.svd(L.T, full_matrices=False)     # Lᵀ = U diag(s) Vt
            keep = s > self.rtol * s[0] if s.size and s[0] > 0 else np.zeros_like(s, bool)
            v = Vt[keep].T @ ((U[:, keep].T @ y) / s[keep])
        else:
            raise InvalidInputError(f"unknown method {self.method!r}; choose one of {METHODS}")
        self.coef_ = v
        norm = np.linalg.norm(y)
        self.residual_ = float(np.linalg.norm(v @ L - y) / norm) if norm > 0 else float(np.linalg.norm(v @ L))
        return self


def lingen_step_logits(model: SequenceModel, histories, coef, generated) -> np.ndarray:
    """LINGEN's logits Σ_h v_h L[· | h ∘ z] for each generated prefix z (rows of ``generated``).

    ``generated`` is ``(n, t)``; returns ``(n, |Σ|)``. Queries only the histories, never a target.

    Examples
    --------
    With centered logits (−1, 1) after history 0 and (0, 0) after history 1, coefficients
    (2, 5) give 2·(−1, 1) + 5·(0, 0):

    >>> from logitrank.theory.models import TabularSequenceModel
    >>> m = TabularSequenceModel({(): np.zeros(2), (0,): np.array([0.0, 2.0]),
    ...                           (1,): np.array([1.0, 1.0])}, vocab_size=2, horizon=2)
    >>> lingen_step_logits(m, [[0], [1]], [2.0, 5.0], np.zeros((1, 0), dtype=int)).tolist()
    [[-2.0, 2.0]]
    """
    gen = np.asarray(generated, dtype=np.int64).reshape(len(generated), -1)
    coef = np.asarray(coef, dtype=np.float64)
    H = [np.asarray(h, dtype=np.int64).reshape(-1) for h in histories]
    if coef.shape != (len(H),):
        raise InvalidInputError(f"coef has shape {coef.shape}, expected ({len(H)},)")
    seqs = [np.concatenate([h, z]) for z in gen for h in H]
    L = centered_logits_of(model, seqs).reshape(gen.shape[0], len(H), model.vocab_size)
    return np.einsum("h,nhv->nv", coef, L)


def lingen_generate(model: SequenceModel, histories, coef, n_steps: int, rng: np.random.Generator,
                    n_samples: int = 1) -> np.ndarray:
    """Generate ``n_samples`` sequences of ``n_steps`` tokens with LINGEN, ``(n_samples, n_steps)``."""
    if n_steps < 1 or n_samples < 1:
        raise InvalidInputError(f"need n_steps >= 1 and n_samples >= 1, got {n_steps}, {n_samples}")
    gen = np.zeros((n_samples, 0), dtype=np.int64)
    for _ in range(n_steps):
        tok = sample_from_logits(lingen_step_logits(model, histories, coef, gen), rng)
        gen = np.concatenate([gen, tok[:, None]], axis=1)
    return gen


@dataclasses.dataclass(frozen=True)
class LinGenEvaluation:
    """Per-step KL(P_true ‖ P_method) (mean over samples) and totals, per method."""

    per_step_kl: dict
    total_kl: dict
    residual: dict
    samples: dict
    n_steps: int
    n_samples: int


def _kl_rows(logits_p: np.ndarray, logits_q: np.ndarray) -> np.ndarray:
    lp, lq = log_softmax(logits_p), log_softmax(logits_q)
    return (np.exp(lp) * (lp - lq)).sum(axis=1)


def hidden_space_rows(history_states, target_state, unembedding_gram):
    """Rows with the inner products of the full-vocabulary next-token rows, in d dimensions.

    For a transformer the centered next-token logits are L[· | p] = Ψ_c φ(p) (the SPEC's
    bridge; Ψ_c the centered unembedding, (|Σ|, d), φ(p) the final hidden state), so the
    next-token-only LINGEN fit regresses ℓ_target = Ψ_c φ_t on the rows Ψ_c φ_h of
    L(H, {∅}) — a |H| × |Σ| matrix. With G = Ψ_cᵀΨ_c = U Λ Uᵀ and R = Λ^{1/2} Uᵀ
    (Ψ_c = Q R, Q orthonormal), the rows Φ_H Rᵀ (|H| × d) and target R φ_t have the same
    Gram matrix, the same products with the target and the same residual norms as the
    full-vocabulary ones, so every :class:`LinGen` method gives the same coefficients and
    residual without a |H| × |Σ| matrix.

    Parameters
    ----------
    history_states : (|H|, d) final hidden states φ(h).
    target_state : (d,) final hidden state φ(h_target).
    unembedding_gram : (d, d) G = Ψ_cᵀ Ψ_c of the centered unembedding Ψ_c = Ψ − 1ψ̄ᵀ.

    Returns
    -------
    (rows, target) : (|H|, d) and (d,), to pass to :meth:`LinGen.fit`.

    References
    ----------
    Golowich, Liu, Shetty (2025), §3, Algorithm 1 (the next-token-only baseline: F = {∅}) and
    the identity L[z | p] = φ(p)ᵀ(ψ(z) − ψ̄) (their reviewer 2; Def. 2.1).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> Psi = rng.normal(size=(50, 4)); Psi_c = Psi - Psi.mean(0)
    >>> Phi, phi = rng.normal(size=(6, 4)), rng.normal(size=4)
    >>> rows, y = hidden_space_rows(Phi, phi, Psi_c.T @ Psi_c)
    >>> v_small = LinGen().fit(rows, y).coef_
    >>> v_full = LinGen().fit(Phi @ Psi_c.T, Psi_c @ phi).coef_
    >>> bool(np.allclose(v_small, v_full))
    True
    """
    Phi = np.asarray(history_states, dtype=np.float64)
    phi = np.asarray(target_state, dtype=np.float64).ravel()
    G = np.asarray(unembedding_gram, dtype=np.float64)
    d = G.shape[0] if G.ndim == 2 else -1
    if G.shape != (d, d) or Phi.ndim != 2 or Phi.shape[1] != d or phi.shape != (d,):
        raise InvalidInputError(f"need history_states (|H|, d), target_state (d,) and unembedding_gram (d, d); "
                                f"got {Phi.shape}, {phi.shape}, {G.shape}")
    lam, U = np.linalg.eigh((G + G.T) / 2)
    R = np.sqrt(np.clip(lam, 0.0, None))[:, None] * U.T          # G = Rᵀ R
    return Phi @ R.T, R @ phi


def lingen_score(model: SequenceModel, target, histories, coefs: dict, *, n_steps: int = 15,
                 n_samples: int = 5, rng: np.random.Generator, last_m: int | None = 5,
                 residual: dict | None = None,
                 on_step: Callable[[int, int], None] | None = None) -> LinGenEvaluation:
    """Generate with fitted LINGEN coefficients and score per-step KL against the true model.

    The generation half of :func:`lingen_evaluate`, for coefficients fitted elsewhere (e.g.
    one history matrix shared by many targets, or the next-token-only fit done in hidden
    space by :func:`hidden_space_rows`). ``model`` answers the history queries h ∘ z (it may
    be an incremental decoder over H) and, only to score, the target's true distributions.

    Parameters
    ----------
    coefs : ``{method name: (|H|,) coefficients}``, generated in this order.
    last_m : add the ``"last_m_tokens"`` baseline (the true model on the last m prompt
        tokens) after the fitted methods; ``None`` leaves it out.
    residual : fit residuals to carry into the result.
    on_step : called as ``on_step(done, total)`` after every generated step of every method
        (``total`` = methods × ``n_steps``), e.g. to drive a progress bar; it does not change
        the result.

    Returns
    -------
    LinGenEvaluation; KL(P_true ‖ P_method) along trajectories sampled from the method.

    References
    ----------
    Golowich, Liu, Shetty (2025), §3, Algorithm 1 and Figs. 1b, 6 (15 steps, per-step KL).
    """
    target = np.asarray(target, dtype=np.int64).reshape(-1)
    if n_steps < 1 or n_samples < 1:
        raise InvalidInputError(f"need n_steps >= 1 and n_samples >= 1, got {n_steps}, {n_samples}")
    H = list(histories)
    methods = list(coefs) + (["last_m_tokens"] if last_m is not None else [])
    per_step, samples = {}, {}
    short = target[-last_m:] if last_m else target[:0]
    done, total = 0, len(methods) * n_steps
    for name in methods:
        gen = np.zeros((n_samples, 0), dtype=np.int64)
        kls = []
        for _ in range(n_steps):
            true_logits = centered_logits_of(model, [np.concatenate([target, z]) for z in gen])
            if name == "last_m_tokens":
                logits = centered_logits_of(model, [np.concatenate([short, z]) for z in gen])
            else:
                logits = lingen_step_logits(model, H, coefs[name], gen)
            kls.append(_kl_rows(true_logits, logits))
            gen = np.concatenate([gen, sample_from_logits(logits, rng)[:, None]], axis=1)
            done += 1
            if on_step is not None:
                on_step(done, total)
        per_step[name] = np.mean(kls, axis=1)
        samples[name] = gen
    return LinGenEvaluation(
        per_step_kl=per_step, total_kl={m: float(v.sum()) for m, v in per_step.items()},
        residual=dict(residual or {}), samples=samples, n_steps=n_steps, n_samples=n_samples)


def lingen_evaluate(model: SequenceModel, target, histories, futures, *, n_steps: int = 15,
                    n_samples: int = 5, rng: np.random.Generator, rule: str = "full",
                    k: int | None = None, method: str = "lstsq", ridge: float = 1e-6,
                    last_m: int = 5, matrix_fn: Callable = extended_logit_matrix,
                    baselines: tuple = ("next_token_only", "last_m_tokens"),
                    on_step: Callable[[int, int], None] | None = None) -> LinGenEvaluation:
    """Fit LINGEN for one target prompt and score it against the true model and baselines.

    Parameters
    ----------
    model : the true model (queried for the fit, for the histories during generation, and
        — only to *score* — for the target's true next-token distributions).
    target : the target prompt (token sequence).
    histories, futures : H and F for the fit.
    matrix_fn : builds L(H, F); same signature as
        :func:`~logitrank.theory.logit_matrix.extended_logit_matrix` (a fast engine can be
        passed). The target row is built on the history matrix's columns.

    Returns
    -------
    LinGenEvaluation; KL direction KL(P_true ‖ P_method), trajectories sampled from the method.
    """
    target = np.asarray(target, dtype=np.int64).reshape(-1)
    if n_steps < 1 or n_samples < 1:
        raise InvalidInputError(f"need n_steps >= 1 and n_samples >= 1, got {n_steps}, {n_samples}")
    unknown = set(baselines) - {"next_token_only", "last_m_tokens"}
    if unknown:
        raise InvalidInputError(f"unknown baselines {sorted(unknown)}")
    H = list(histories)
    fits = {}
    MH = matrix_fn(model, H, futures, rule=rule, k=k, rng=rng)
    row = matrix_fn(model, [target], futures, column_tokens=MH.column_tokens).values[0]
    fits["lingen"] = LinGen(method=method, ridge=ridge).fit(MH.values, row)
    if "next_token_only" in baselines:
        M0 = matrix_fn(model, H, [np.zeros(0, np.int64)], rule="full")
        row0 = matrix_fn(model, [target], [np.zeros(0, np.int64)], rule="full").values[0]
        fits["next_token_only"] = LinGen(method=method, ridge=ridge).fit(M0.values, row0)

    return lingen_score(model, target, H, {m: f.coef_ for m, f in fits.items()}, n_steps=n_steps,
                        n_samples=n_samples, rng=rng,
                        last_m=last_m if "last_m_tokens" in baselines else None,
                        residual={m: f.residual_ for m, f in fits.items()}, on_step=on_step)
