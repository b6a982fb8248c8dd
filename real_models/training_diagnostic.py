"""The logit-rank training diagnostic: α and KL-at-rank of a fixed probe, during training.

Golowich, Liu and Shetty (2025) observe that the low-rank structure of L_{M,k}(H, F)
appears early in pretraining (Fig. 3: the average KL of the best low-rank approximation
falls sharply, then rises slowly) and that the untrained model sits below α = 1/2 (Fig. 7d);
they list using the singular-value decay as a diagnostic of training progress as future
work. This module makes that a metric:

- :func:`logit_rank_probe` — for a model and tokenizer (any causal LM, in any mode), build
  L_{M,k}(H, F) with the fast engine and return the power-law exponent α with its
  uncertainty (:class:`~logitrank.theory.spectrum.PowerLawFit`) and the average KL of the
  best rank-r approximation (:func:`~logitrank.theory.spectrum.average_kl_vs_rank`).
- :class:`LogitRankProbe` — the same on a fixed (H, F), as a callable
  ``probe(model, tokenizer) -> {name: value}`` for a hand-written loop (it is the
  ``probe=`` hook of :func:`~logitrank.real_models.training.train_causal_lm`).
- :class:`LogitRankCallback` — a ``transformers.TrainerCallback`` that computes the probe at
  step 0 and every N steps (or at every evaluation) and reports it through ``Trainer.log``,
  so it reaches ``state.log_history``, TensorBoard and W&B like the loss.

References
----------
Golowich, N., Liu, A., Shetty, A. (2025). Sequences of Logits Reveal the Low Rank Structure
of Language Models. Def. 2.2 (extended logit matrix), Def. 3.1 (average KL of a
low-rank approximation), §3.1 (power-law fit), Fig. 3 and Fig. 7d (training).
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import torch
from transformers import TrainerCallback

from logitrank.errors import InvalidInputError
from logitrank.theory.spectrum import PowerLawFit, average_kl_vs_rank, singular_values

__all__ = ["LogitRankProbeResult", "logit_rank_probe", "LogitRankProbe", "LogitRankCallback"]


@dataclasses.dataclass(frozen=True)
class LogitRankProbeResult:
    """α and KL-at-rank of one L_{M,k}(H, F).

    Attributes
    ----------
    alpha, alpha_err : power-law exponent of the singular values and its uncertainty
        (``PowerLawFit.alpha_`` / ``alpha_err_``).
    fit_range : 1-based singular-value indices used by the fit.
    rank : r of the best rank-r approximation.
    kl_at_rank, kl_bound_at_rank : D^avg_KL(L, A_r) and its Frobenius bound (Def. 3.1, Fact B.2).
    k, n_histories, n_futures : the matrix is n_histories × (n_futures · k).
    singular_values : all singular values, descending.
    seconds : wall time of the probe.
    """

    alpha: float
    alpha_err: float
    fit_range: tuple
    rank: int
    kl_at_rank: float
    kl_bound_at_rank: float
    k: int
    n_histories: int
    n_futures: int
    singular_values: np.ndarray
    seconds: float

    def metrics(self, prefix: str = "logit_rank/") -> dict[str, float]:
        """Scalars for a logger: ``{prefix}alpha``, ``alpha_err``, ``kl_rank{r}``, ``kl_bound_rank{r}``."""
        return {f"{prefix}alpha": self.alpha, f"{prefix}alpha_err": self.alpha_err,
                f"{prefix}kl_rank{self.rank}": self.kl_at_rank,
                f"{prefix}kl_bound_rank{self.rank}": self.kl_bound_at_rank}


def _token_lists(seqs, tokenizer, name: str) -> list[np.ndarray]:
    if seqs is None or len(seqs) == 0:
        raise InvalidInputError(f"{name} is empty: pass token sequences (or strings) for the probe")
    out = []
    for s in seqs:
        if isinstance(s, str):
            if tokenizer is None:
                raise InvalidInputError(f"{name} given as text need a tokenizer; pass token ids or a tokenizer")
            out.append(np.asarray(tokenizer(s, add_special_tokens=False)["input_ids"], dtype=np.int64))
        else:
            out.append(np.asarray(s, dtype=np.int64).reshape(-1))
    return out


def logit_rank_probe(model, tokenizer, histories, futures, *, k: int = 50, rank: int = 16,
                     fit_range=(0.01, 0.5), rule: str = "topk_average", prefix_tokens=None,
                     future_chunk: int = 64) -> LogitRankProbeResult:
    """α (with uncertainty) and the rank-r average KL of L_{M,k}(H, F) for a causal LM.

    Parameters
    ----------
    model : a transformers causal LM (train or eval mode; it is put in eval mode for the
        probe and restored). Its current weights are used, so call it during training.
    tokenizer : its tokenizer (gives BOS, the prefix of every query; may be ``None`` when
        ``prefix_tokens`` is given and H, F are token ids).
    histories, futures : lists of token-id sequences or strings (strings are encoded
        without special tokens). Keep them fixed across calls to compare steps.
    k : tokens per future (columns per future block), chosen by ``rule``.
    rank : r of the best rank-r approximation whose average KL is reported.
    fit_range : the power-law fit range of :class:`~logitrank.theory.spectrum.PowerLawFit`.
    rule : column rule of :mod:`logitrank.theory.logit_matrix` (default "topk_average").
    prefix_tokens : tokens before every query (default: the tokenizer's BOS).
    future_chunk : futures per engine pass.

    Returns
    -------
    LogitRankProbeResult

    Notes
    -----
    The matrix is built by :class:`~logitrank.real_models.engine.LogitMatrixEngine` on a fresh
    :class:`~logitrank.real_models.adapter.HFCausalLM` wrapper (the engine caches the
    unembedding, which changes during training); the fit and the KL are those of
    :mod:`logitrank.theory.spectrum`.

    References
    ----------
    Golowich, Liu, Shetty (2025), Def. 2.2, Def. 3.1, §3.1, Fig. 3.

    Examples
    --------
    >>> from transformers import LlamaConfig, LlamaForCausalLM
    >>> m = LlamaForCausalLM(LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32,
    ...     num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2))
    >>> rng = np.random.default_rng(0)
    >>> H = [rng.integers(3, 64, 6) for _ in range(24)]; F = [rng.integers(3, 64, 2) for _ in range(8)]
    >>> r = logit_rank_probe(m, None, H, F, k=8, rank=4, prefix_tokens=[0])
    >>> sorted(r.metrics())
    ['logit_rank/alpha', 'logit_rank/alpha_err', 'logit_rank/kl_bound_rank4', 'logit_rank/kl_rank4']
    """
    from logitrank.real_models.adapter import HFCausalLM
    from logitrank.real_models.engine import LogitMatrixEngine
    t0 = time.perf_counter()
    H = _token_lists(histories, tokenizer, "histories")
    F = _token_lists(futures, tokenizer, "futures")
    if int(k) < 1:
        raise InvalidInputError(f"k must be >= 1, got {k}")
    n_cols = len(F) * int(k)
    if not (1 <= int(rank) <= min(len(H), n_cols)):
        raise InvalidInputError(f"rank={rank} must lie in [1, min(|H|, |F|·k)] = [1, {min(len(H), n_cols)}]; "
                                f"lower rank or use more histories/futures")
    was_training = model.training
    model.eval()
    try:
        lm = HFCausalLM(model, tokenizer, prefix_tokens=prefix_tokens, kv_reuse=False, name="training-probe")
        eng = LogitMatrixEngine(lm, future_chunk=future_chunk, progress=False)
        with torch.no_grad():
            L = eng.matrix(H, F, rule=rule, k=int(k))
    finally:
        model.train(was_training)
    s = singular_values(L.values)
    fit = PowerLawFit(fit_range=fit_range).fit(s)
    kl = average_kl_vs_rank(L.values, L.k, [int(rank)])
    return LogitRankProbeResult(alpha=float(fit.alpha_), alpha_err=float(fit.alpha_err_),
                                fit_range=tuple(int(i) for i in fit.fit_range_), rank=int(rank),
                                kl_at_rank=float(kl.average_kl[0]), kl_bound_at_rank=float(kl.frobenius_bound[0]),
                                k=L.k, n_histories=len(H), n_futures=len(F), singular_values=s,
                                seconds=time.perf_counter() - t0)


@dataclasses.dataclass(frozen=True)
class LogitRankProbe:
    """A fixed (H, F) probe: ``probe(model, tokenizer)`` → the metrics of :func:`logit_rank_probe`.

    The ``probe=`` hook of :func:`~logitrank.real_models.training.train_causal_lm` (called at
    every checkpoint and every ``probe_every`` steps; the values go to ``metrics.json``).

    Examples
    --------
    >>> probe = LogitRankProbe(histories=[[5, 6, 7]] * 4, futures=[[8], [9]], k=4, rank=2)
    >>> probe.k
    4
    """

    histories: list
    futures: list
    k: int = 50
    rank: int = 16
    fit_range: tuple = (0.01, 0.5)
    rule: str = "topk_average"
    prefix: str = "logit_rank/"

    def result(self, model, tokenizer) -> LogitRankProbeResult:
        """The full probe result for the model's current weights."""
        return logit_rank_probe(model, tokenizer, self.histories, self.futures, k=self.k, rank=self.rank,
                                fit_range=self.fit_range, rule=self.rule)

    def __call__(self, model, tokenizer) -> dict[str, float]:
        return self.result(model, tokenizer).metrics(self.prefix)


class LogitRankCallback(TrainerCallback):
    """Log α and KL-at-rank of a fixed (H, F) probe during ``transformers.Trainer`` training.

    Parameters
    ----------
    histories, futures : the fixed probe (token-id sequences, or strings when a tokenizer is
        available); see :func:`logit_rank_probe`.
    every : probe every this many optimizer steps (``on="step"``), plus once at step 0.
    on : ``"step"`` (``on_step_end`` every ``every`` steps) or ``"evaluate"`` (at every
        evaluation, alongside the eval loss; the values are also added to its metrics).
    trainer : the ``Trainer``; when given, values go through ``trainer.log`` and so reach
        ``state.log_history`` and every reporting integration (TensorBoard, W&B …). Without
        it they are appended to ``state.log_history`` only.
    tokenizer : used when the Trainer has no ``processing_class``.
    k, rank, fit_range, rule, prefix : as in :class:`LogitRankProbe`.

    Attributes
    ----------
    history : ``(step, LogitRankProbeResult)`` for every probe computed.

    Notes
    -----
    Only the main process (``state.is_world_process_zero``) computes the probe.

    Examples
    --------
    >>> cb = LogitRankCallback([[5, 6, 7]] * 8, [[8], [9]], every=50, k=4, rank=2)
    >>> cb.every
    50
    """

    def __init__(self, histories, futures, *, every: int = 100, on: str = "step", trainer=None, tokenizer=None,
                 k: int = 50, rank: int = 16, fit_range=(0.01, 0.5), rule: str = "topk_average",
                 prefix: str = "logit_rank/"):
        if int(every) < 1:
            raise InvalidInputError(f"every must be >= 1, got {every}")
        if on not in ("step", "evaluate"):
            raise InvalidInputError(f"on must be 'step' or 'evaluate', got {on!r}")
        self.probe = LogitRankProbe(list(histories), list(futures), k=int(k), rank=int(rank),
                                    fit_range=tuple(fit_range), rule=rule, prefix=prefix)
        self.every, self.on, self.trainer, self.tokenizer = int(every), on, trainer, tokenizer
        self.history: list = []

    def _compute(self, state, model, processing_class) -> dict[str, float] | None:
        if model is None or not state.is_world_process_zero:
            return None
        tok = processing_class if processing_class is not None else self.tokenizer
        res = self.probe.result(model, tok)
        self.history.append((int(state.global_step), res))
        return res.metrics(self.probe.prefix)

    def _log(self, state, metrics: dict[str, float]) -> None:
        if self.trainer is not None:
            self.trainer.log(dict(metrics))
        else:
            state.log_history.append({**metrics, "step": state.global_step})

    def on_train_begin(self, args, state, control, model=None, processing_class=None, **kwargs):
        if self.on == "step" and state.global_step == 0:          # the untrained model
            m = self._compute(state, model, processing_class)
            if m is not None:
                self._log(state, m)

    def on_step_end(self, args, state, control, model=None, processing_class=None, **kwargs):
        if self.on == "step" and state.global_step % self.every == 0:
            m = self._compute(state, model, processing_class)
            if m is not None:
                self._log(state, m)

    def on_evaluate(self, args, state, control, model=None, processing_class=None, metrics=None, **kwargs):
        if self.on == "evaluate":
            m = self._compute(state, model, processing_class)
            if m is not None:
                if metrics is not None:
                    metrics.update(m)
                self._log(state, m)
