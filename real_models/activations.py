"""Activation covariance entering each weight matrix, and its overlap with singular vectors.

Staats, Thamm & Rosenow (2024), Sec. 4: for the inputs ``h_i`` (token i) entering matrix
``W`` of block l, ``C = (1/T) sum_i (h_i - h_bar)(h_i - h_bar)^T`` with eigenvectors ``f_j``;
for each right singular vector ``v_k`` of ``W`` the largest overlap ``O_k = max_j |f_j . v_k|``
is compared with the band of a Haar-random vector (mean +- 3 std; Figs. 2–4).

Every function takes the model object (:class:`~logitrank.real_models.adapter.HFCausalLM`).
Text comes from the model itself by default (``lm.sample_tokens(..., method="generate")``,
seeded), as no corpus ships with these machines; any token tensor can be passed instead.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from logitrank.errors import InvalidInputError
from logitrank.real_models.weights import WeightMatrix, check_matrix
from logitrank.theory.rmt import random_overlap_band

__all__ = ["ActivationOverlap", "activation_covariances", "activation_overlaps"]


def activation_covariances(lm, matrices: list[WeightMatrix], tokens: torch.Tensor, *,
                           batch_size: int = 8) -> dict:
    """Centred covariance of the inputs entering each matrix's module: ``{name: (C, T)}``.

    Forward pre-hooks on each ``module_name`` accumulate sums of ``h`` and ``h h^T`` in
    float64 over all token positions of ``tokens`` (n, t). Fused matrices (GPT-2 ``c_attn``)
    share their module's input. ``matrices``: from ``lm.weight_matrices()``.
    """
    model = lm.model
    if tokens.ndim != 2:
        raise InvalidInputError(f"tokens must be (n_sequences, length), got shape {tuple(tokens.shape)}")
    modules = dict(model.named_modules())
    wanted = {}
    for wm in matrices:
        if wm.module_name not in modules:
            raise InvalidInputError(f"module {wm.module_name!r} not found in the model")
        wanted.setdefault(wm.module_name, [])
    sums = {k: None for k in wanted}
    count = {k: 0 for k in wanted}

    def make_hook(key):
        def hook(_module, args):
            h = args[0].detach().reshape(-1, args[0].shape[-1]).double().cpu()
            s1, s2 = h.sum(0), h.T @ h
            if sums[key] is None:
                sums[key] = [s1, s2]
            else:
                sums[key][0] += s1
                sums[key][1] += s2
            count[key] += h.shape[0]
        return hook

    handles = [modules[k].register_forward_pre_hook(make_hook(k)) for k in wanted]
    dev = lm.device
    try:
        with torch.no_grad():
            for s in range(0, tokens.shape[0], batch_size):
                model(tokens[s:s + batch_size].to(dev))
    finally:
        for h in handles:
            h.remove()
    out = {}
    for wm in matrices:
        s1, s2 = sums[wm.module_name]
        t = count[wm.module_name]
        mean = s1 / t
        cov = s2 / t - torch.outer(mean, mean)
        out[wm.name] = (cov.numpy(), t)
    return out


@dataclasses.dataclass(frozen=True)
class ActivationOverlap:
    """Max overlap ``O_k`` of each right singular vector (descending nu) with covariance eigenvectors."""

    name: str
    matrix_type: str
    layer: int
    singular_values: np.ndarray
    overlap: np.ndarray
    band: tuple            # (mean, low, high) for a Haar-random vector
    n_tokens: int
    covariance_rank: int
    input_dim: int

    @property
    def full_rank(self) -> bool:
        """Whether the covariance had full rank (more tokens than dimensions); else O_k is unreliable."""
        return self.covariance_rank >= self.input_dim


def activation_overlaps(lm, matrices: list[WeightMatrix], tokens: torch.Tensor, *,
                        rng: np.random.Generator, batch_size: int = 8) -> list[ActivationOverlap]:
    """``O_k = max_j |f_j . v_k|`` for every right singular vector of every matrix ([1], Sec. 4).

    ``v_k`` lives in the input space of ``W`` (W is (out, in)); ``f_j`` are the eigenvectors
    of the input covariance. The random band comes from :func:`random_overlap_band`.
    """
    covs = activation_covariances(lm, matrices, tokens, batch_size=batch_size)
    bands: dict = {}
    results = []
    for wm in matrices:
        w = check_matrix(wm.weight, wm.name).double().cpu().numpy()
        _, s, vh = np.linalg.svd(w, full_matrices=False)
        cov, t = covs[wm.name]
        evals, evecs = np.linalg.eigh(cov)
        rank = int(np.sum(evals > evals.max() * 1e-10))
        overlap = np.max(np.abs(vh @ evecs), axis=1)
        d = w.shape[1]
        if d not in bands:
            bands[d] = random_overlap_band(d, rng)
        results.append(ActivationOverlap(wm.name, wm.matrix_type, wm.layer, s, overlap, bands[d], t, rank, d))
    return results
