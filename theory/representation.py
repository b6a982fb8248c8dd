"""Theorem 4.3 of Golowich, Liu, Shetty (2025), constructive in both directions.

*Only if*: a time-varying ISAN of dimension d has cut-wise logit rank ≤ d (each row of
L(Σ^t, ·) is linear in the state x_h) — see :func:`~logitrank.theory.logit_matrix.cutwise_ranks`
and :func:`~logitrank.theory.exact.exact_cutwise_ranks`.

*If*: :func:`isan_from_low_rank_model` builds, from any model whose cut-wise logit ranks
are ≤ d, a time-varying ISAN of dimension d with the same distribution:

1. at each cut t choose r_t ≤ d *basis histories* whose rows R_t span the row space
   (column-pivoted QR, a practical stand-in for a max-volume choice, keeps coordinates
   well conditioned);
2. the state of a history h is its coordinate vector c_t(h), L_t(h) = c_t(h)ᵀ R_t;
3. next-token logits read off the empty-future block: B_{t+1} = R_t[:, ∅-block]ᵀ;
4. the row of a child h∘z is the z-block of h's row, linear in c_t(h); expressing it in
   the next basis gives c_{t+1}(h∘z) = A_{z,t+1} c_t(h) with
   A_{z,t+1} = (R_t[:, z∘·] R_{t+1}⁺)ᵀ.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.linalg

from logitrank.errors import InvalidInputError
from logitrank.theory.logit_matrix import cutwise_futures, cutwise_logit_matrix, numerical_rank
from logitrank.theory.models import TimeVaryingISAN
from logitrank.theory.sequence_model import SequenceModel

__all__ = ["ISANConstruction", "isan_from_low_rank_model"]


@dataclasses.dataclass(frozen=True)
class ISANConstruction:
    """Result of the 'if' direction: the ISAN and the basis histories used at each cut."""

    isan: TimeVaryingISAN
    ranks: list
    basis_histories: list


def isan_from_low_rank_model(model: SequenceModel, dim: int, T: int | None = None, *,
                             rtol: float = 1e-9) -> ISANConstruction:
    """Construct a time-varying ISAN of dimension ``dim`` reproducing ``model`` exactly.

    Parameters
    ----------
    model : a sequence model with cut-wise logit ranks ≤ ``dim`` (only its logits are used).
    dim : hidden dimension d of the ISAN to build.
    T : horizon (defaults to ``model.horizon``).
    rtol : relative singular-value tolerance deciding the rank at each cut.

    Raises
    ------
    InvalidInputError if some cut has numerical rank above ``dim``.

    References
    ----------
    Golowich, Liu, Shetty (2025), Theorem 4.3 ("if" direction).
    """
    T = T if T is not None else model.horizon
    if T is None or T < 1:
        raise InvalidInputError("need a horizon T >= 1 (the model has none; pass T)")
    if dim < 1:
        raise InvalidInputError(f"dim must be >= 1, got {dim}")
    V = model.vocab_size
    mats, bases, ranks, basis_hist = [], [], [], []
    for t in range(T):
        M = cutwise_logit_matrix(model, t, T)
        r = numerical_rank(M.values, rtol=rtol)
        if r > dim:
            raise InvalidInputError(
                f"cut t={t} has logit rank {r} > dim={dim}: no ISAN of dimension {dim} "
                f"reproduces this model; pass dim >= {r}")
        if r:
            _, _, piv = scipy.linalg.qr(M.values.T, pivoting=True, mode="economic")
            idx = np.sort(piv[:r])
        else:
            idx = np.zeros(0, dtype=np.int64)
        mats.append(M.values)
        bases.append(M.values[idx])
        ranks.append(r)
        basis_hist.append([M.histories[i] for i in idx])

    A = np.zeros((T, V, dim, dim))
    B = np.zeros((T, V, dim))
    x0 = np.zeros(dim)
    if ranks[0]:
        x0[0] = 1.0                         # the only history at t = 0 is its own basis
    for t in range(T):
        R = bases[t]
        r = ranks[t]
        B[t, :, :r] = R[:, :V].T
        if t + 1 < T and r and ranks[t + 1]:
            fut_t = [tuple(f) for f in cutwise_futures(V, T, t)]
            pos = {f: j for j, f in enumerate(fut_t)}
            fut_next = cutwise_futures(V, T, t + 1)
            R_blocks = R.reshape(r, len(fut_t), V)
            R_next_pinv = np.linalg.pinv(bases[t + 1])
            for z in range(V):
                child_cols = [pos[(z,) + tuple(f)] for f in fut_next]
                child_rows = R_blocks[:, child_cols, :].reshape(r, -1)      # rows of b∘z
                G = child_rows @ R_next_pinv                                 # (r_t, r_{t+1})
                A[t, z, :ranks[t + 1], :r] = G.T
    return ISANConstruction(TimeVaryingISAN(A, B, x0), ranks, basis_hist)
