"""Removal experiment: zero one decile of singular values of one matrix type in all blocks.

Staats, Thamm & Rosenow (2024), Sec. 5 / Fig. 5: the singular values of each matrix are
rank-ordered and split into ten equal deciles (1 = smallest 10 %, 10 = largest); one
decile is set to zero, ``W~ = U S~ V^T``, in every matrix of one type at once, and the
change of perplexity on held-out text is recorded. The paper's claim: for rectangular
matrices the smallest decile can matter more than middle ones.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch

from logitrank.errors import InvalidInputError
from logitrank.real_models.weights import WeightMatrix, check_matrix

__all__ = ["DecileRemoval", "decile_indices", "perplexity", "decile_removal"]


def decile_indices(n_values: int, decile: int, n_parts: int = 10) -> np.ndarray:
    """Indices (into ascending singular values) of ``decile`` in 1..n_parts (1 = smallest)."""
    if not 1 <= decile <= n_parts:
        raise InvalidInputError(f"decile must be in 1..{n_parts}, got {decile}")
    return np.array_split(np.arange(n_values), n_parts)[decile - 1]


def perplexity(lm, tokens: torch.Tensor, *, batch_size: int = 8) -> float:
    """Perplexity ``exp(mean NLL)`` of ``tokens`` (n, t) under the causal LM ``lm`` (all but the first token)."""
    if tokens.ndim != 2 or tokens.shape[1] < 2:
        raise InvalidInputError("tokens must be (n_sequences, length >= 2)")
    lm._require_causal("perplexity")
    model, dev = lm.model, lm.device
    nll, count = 0.0, 0
    with torch.no_grad():
        for s in range(0, tokens.shape[0], batch_size):
            x = tokens[s:s + batch_size].to(dev)
            logits = model(x).logits[:, :-1].float()
            lp = torch.log_softmax(logits, dim=-1).gather(-1, x[:, 1:, None]).squeeze(-1)
            nll -= float(lp.sum())
            count += lp.numel()
    mean_nll = nll / count
    return math.exp(mean_nll) if mean_nll < 700 else float("inf")   # a destroyed model, not an error


@dataclasses.dataclass(frozen=True)
class DecileRemoval:
    """``delta_ppl[type_index, decile - 1]`` = PPL after removal - base PPL."""

    types: tuple
    base_perplexity: float
    perplexity: np.ndarray
    n_tokens: int

    @property
    def delta_perplexity(self) -> np.ndarray:
        return self.perplexity - self.base_perplexity


def decile_removal(lm, matrices: list[WeightMatrix], tokens: torch.Tensor, *, types=None,
                   deciles=range(1, 11), batch_size: int = 8, progress=None) -> DecileRemoval:
    """Zero each decile of each type (all blocks at once) and measure perplexity on ``tokens``.

    The weights are modified in place and restored after every evaluation (the model is
    unchanged on return, also on error). ``matrices`` must be views of the model's own
    parameters (from ``lm.weight_matrices()``).
    """
    types = tuple(types) if types is not None else tuple(dict.fromkeys(wm.matrix_type for wm in matrices))
    deciles = list(deciles)
    by_type = {t: [wm for wm in matrices if wm.matrix_type == t] for t in types}
    for t, group in by_type.items():
        if not group:
            raise InvalidInputError(f"no matrices of type {t!r}; available: "
                                    f"{sorted({wm.matrix_type for wm in matrices})}")
    base = perplexity(lm, tokens, batch_size=batch_size)
    ppl = np.full((len(types), len(deciles)), np.nan)
    for ti, t in enumerate(types):
        svds = []
        for wm in by_type[t]:
            w = check_matrix(wm.weight, wm.name)
            if w.device.type == "cpu":       # NumPy's LAPACK: much faster than torch's CPU svd here
                u, s, vh = (torch.from_numpy(a) for a in np.linalg.svd(w.double().numpy(), full_matrices=False))
            else:
                u, s, vh = torch.linalg.svd(w.double(), full_matrices=False)
            svds.append((u, s, vh))          # s descending
        for di, d in enumerate(deciles):
            originals = []
            try:
                for wm, (u, s, vh) in zip(by_type[t], svds):
                    asc = decile_indices(s.numel(), d)
                    idx = torch.as_tensor(s.numel() - 1 - asc)      # positions in descending order
                    delta = (u[:, idx] * s[idx]) @ vh[idx]
                    originals.append(wm.weight.detach().clone())
                    with torch.no_grad():
                        wm.weight.sub_(delta.to(wm.weight.dtype))
                ppl[ti, di] = perplexity(lm, tokens, batch_size=batch_size)
            finally:
                with torch.no_grad():
                    for wm, orig in zip(by_type[t], originals):
                        wm.weight.copy_(orig)
            if progress:
                progress(t, d, ppl[ti, di])
    return DecileRemoval(types, base, ppl, int(tokens.shape[0] * (tokens.shape[1] - 1)))
