"""Fast extended logit matrices L(H, F) of real language models.

Same definition as :func:`logitrank.theory.logit_matrix.extended_logit_matrix` (Golowich,
Liu, Shetty 2025, Def. 2.1–2.2: entry L[z | h∘f], columns (f, z) future-major, top-k rules
of that module), computed the way a transformer allows:

1. **History bank.** Every history h is run once (after the model's prefix tokens, e.g. BOS)
   and its cache — keys/values, or the recurrent state of a state-space model — is kept.
   Futures then run on top of it, so a history's tokens are never recomputed (the naive path
   recomputes h for every f). How futures run depends on what the family admits
   (:mod:`logitrank.real_models._engine_passes`): all futures of a chunk packed behind each
   history with a prefix-tree mask (full causal attention), per-future copies of the cache run
   together (sliding windows, ALiBi) or advanced a token at a time (recurrent states), or every
   pair in full. Each candidate is checked against plain forwards on a sample of the request
   before it is used (``path_``, ``path_notes_``), so no family gets a silently different matrix.
2. **Only the needed positions.** Futures are right-padded; under causal attention (and in a
   recurrence) a pad never influences an earlier position, so the final hidden state at position
   |f| − 1 of each row is exact. Only those states are kept.
3. **Centering without the vocabulary.** For a bias-free, un-capped LM head the centered
   logit is L[z | p] = φ(p)ᵀ(ψ(z) − ψ̄) (the bridge between the lenses; ψ rows of the
   unembedding, ψ̄ their mean), so columns are k dot products with a precomputed centered
   unembedding Ψ_c. The identity is checked on the model at construction; models with a
   head bias, logit soft-capping or scaling run their own head on the needed positions
   (``head="logits"``).
4. **Future-major streaming.** Futures are processed in chunks; each chunk's block B
   (|H| × |F_c|·k) updates a float64 Gram G = Σ B Bᵀ and is dropped (optionally written to
   disk), so singular values (√eig G) come out in O(|H|² + |H|·|F_c|·k) memory whatever |F|
   is. For the full-vocabulary rule the Gram uses Φ_f (Ψ_cᵀΨ_c) Φ_fᵀ and never forms V columns.
   The top-k rule "topk_average" is decided per future from the full distributions of all
   histories, which a future-major chunk has at hand — no second pass over the model.
5. **Checkpoints.** With ``run_dir`` the Gram and the columns are saved atomically after
   every chunk, keyed by a fingerprint of model + inputs + settings; a killed run resumes
   from the last chunk and gives the identical result (same chunks, same order of sums).
   A mismatching fingerprint raises :class:`~logitrank.errors.ResumeError`; inputs are
   validated before anything is written.
6. **Sharding.** ``shard=(rank, world)`` processes chunks ``c ≡ rank (mod world)``; the
   partial Grams add up to the full one (see :mod:`logitrank.real_models.distributed`).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from logitrank.errors import InvalidInputError
from logitrank.progress import progress as progress_bar
from logitrank.real_models._engine_columns import ColumnValues
from logitrank.real_models._engine_passes import ForwardPasses
from logitrank.real_models._engine_plan import CheckpointStore, ColumnPlan, check_column_tokens, hash_sequences
from logitrank.theory.logit_matrix import COLUMN_RULES, LogitMatrix, _as_sequence_list, choose_column_tokens

__all__ = ["LogitGram", "LogitMatrixEngine", "engine_logit_matrix", "load_matrix_chunks"]


@dataclasses.dataclass(frozen=True)
class LogitGram:
    """The Gram G = L Lᵀ (|H| × |H|, float64) of an extended logit matrix and its columns.

    ``singular_values()`` gives the singular values of L (descending), √eig(G).
    """

    gram: np.ndarray
    column_tokens: np.ndarray
    rule: str
    n_histories: int
    n_futures: int
    seconds: float = 0.0
    tokens: int = 0

    @property
    def k(self) -> int:
        return int(self.column_tokens.shape[1])

    @property
    def frobenius_norm_sq(self) -> float:
        return float(np.trace(self.gram))

    def singular_values(self) -> np.ndarray:
        """Singular values of L from the Gram's eigenvalues (negative rounding clipped to 0)."""
        ev = np.linalg.eigvalsh(self.gram)[::-1]
        return np.sqrt(np.clip(ev, 0.0, None))


class LogitMatrixEngine:
    """Extended logit matrices of an :class:`~logitrank.real_models.adapter.HFCausalLM`, fast.

    Parameters
    ----------
    lm : the wrapped model (its device and dtype are used; CUDA if it lives there).
    future_chunk : futures per streaming chunk (one Gram update, one checkpoint).
    max_batch_tokens : future tokens per forward pass (bounds activation and KV-copy memory).
    history_batch : histories per prefix forward pass.
    max_kv_mib : budget for the history KV cache of one future forward pass (MiB); with
        ``max_batch_tokens`` it bounds peak memory independently of |F|.
    packing : put all futures of a chunk into one row per history with a prefix-tree
        attention mask (each future sees the history and its own earlier tokens; positions
        restart after the history), so the history KV is never copied per future. With
        ``packing=False`` the KV is repeated once per future instead (plain causal masks).
        The packed scores are dense over all the chunk's keys (most masked); an exact
        prefix + own-future split measured at most +3.5% end to end on CPU at 8-token
        futures (attention is ~5% of the forward; ``benchmarks/bench_packed_attention.py``),
        so the single masked SDPA call is kept.
    head : ``"auto"`` (identity when it checks out, else full logits), ``"identity"`` or
        ``"logits"`` (always full logits through the model's own head).
    path : ``"auto"`` (the fastest path the family admits that agrees with plain forwards on a
        sample of each request, design point 1) or one of ``"packed"``, ``"repeat"``, ``"step"``,
        ``"naive"`` (forced, unchecked; ``"naive"`` is the reference computation).
    head_dtype : dtype of the centered unembedding products (float32 default; float64 on CPU
        for reference runs).
    progress : show progress over chunks (a bar on a terminal, plain lines in a log file).

    Attributes
    ----------
    history_states_ : after :meth:`matrix` or :meth:`gram`, φ(prefix ∘ h) — the final hidden
        state after each history, ``(|H|, d_model)`` float64 in history order — when the head
        is the identity (the next-token rows are Ψ_c φ(h)); None otherwise. The same numbers
        as :func:`~logitrank.real_models.lingen_decoder.next_token_states` without a second
        pass over the histories.
    path_, path_notes_ : the path the last request ran on, and why faster ones were not taken.

    Notes
    -----
    Agrees with the generic path to float tolerance (tests/test_engine.py). References:
    Golowich, Liu, Shetty 2025, Def. 2.1, 2.2 and §3 (L_{M,k}(H, F)).
    """

    def __init__(self, lm, *, future_chunk: int = 16, max_batch_tokens: int = 2048, history_batch: int = 32,
                 max_kv_mib: float = 256.0, packing: bool = True, head: str = "auto", head_dtype=torch.float32,
                 path: str = "auto", progress: bool = True):
        if future_chunk < 1 or max_batch_tokens < 1 or history_batch < 1:
            raise InvalidInputError("future_chunk, max_batch_tokens and history_batch must be >= 1")
        if head not in ("auto", "identity", "logits"):
            raise InvalidInputError(f"head must be 'auto', 'identity' or 'logits', got {head!r}")
        if not getattr(lm, "is_causal", True):
            raise InvalidInputError(f"{lm.name} has no LM head: the logit matrix needs a causal LM")
        self.lm = lm
        self.model = lm.model
        self.device = lm.device
        self.future_chunk = int(future_chunk)
        self.packing = bool(packing)
        self.head_dtype = head_dtype
        self.progress = progress
        self.V = lm.vocab_size
        self._passes = ForwardPasses(lm, head=head, head_dtype=head_dtype, max_batch_tokens=max_batch_tokens,
                                     history_batch=history_batch, max_kv_mib=max_kv_mib, path=path)
        self.head_mode = self._passes.head_mode
        self._psi_c = self._passes.psi_c
        self._columns = ColumnValues(lm, self._psi_c, self.head_mode)
        self.history_states_: np.ndarray | None = None

    @property
    def tokens_processed(self) -> int:
        """Tokens sent through the model for the requests so far (history bank and futures; the
        path checks are counted apart in :attr:`path_check_tokens_`)."""
        return self._passes.tokens

    @tokens_processed.setter
    def tokens_processed(self, value: int) -> None:
        self._passes.tokens = int(value)

    @property
    def path_check_tokens_(self) -> int:
        """Tokens spent comparing candidate paths with plain forwards (a few pairs per request)."""
        return self._passes.check_tokens

    @property
    def path_(self) -> str | None:
        """The path the last request ran on (``packed``, ``repeat``, ``step`` or ``naive``)."""
        return self._passes.path

    @property
    def path_notes_(self) -> dict[str, str]:
        """Why faster candidate paths were not used for this model (path → reason)."""
        return dict(self._passes.path_notes)

    # --- inputs ---------------------------------------------------------------------------
    def _validate(self, histories, futures, rule, k, column_tokens):
        H = _as_sequence_list(histories, "histories", self.V)
        F = _as_sequence_list(futures, "futures", self.V)
        if column_tokens is not None:
            cols = check_column_tokens(column_tokens, len(F), self.V, k)
            k = int(cols.shape[1])
        elif rule not in COLUMN_RULES:
            raise InvalidInputError(f"unknown column rule {rule!r}; choose one of {COLUMN_RULES}")
        elif rule == "full":
            k = self.V
        elif k is None or not (1 <= int(k) <= self.V):
            raise InvalidInputError(
                f"k={k} is out of range for the {rule!r} rule: need 1 <= k <= vocabulary size {self.V}")
        n_pre = len(self.lm.prefix_tokens)
        longest = max(len(h) for h in H) + max(len(f) for f in F) + n_pre
        if longest > self.lm.max_context:
            raise InvalidInputError(
                f"a history plus a future is {longest} tokens (with {n_pre} prefix tokens), more than the "
                f"model's context of {self.lm.max_context}; shorten histories or futures")
        if n_pre == 0 and any(len(h) == 0 for h in H):
            raise InvalidInputError("empty histories need prefix tokens (e.g. BOS); this model has none")
        return H, F, int(k)

    def _plan(self, histories, futures, rule, k, rng, column_tokens, shard) -> ColumnPlan:
        """Validate everything, then fix the columns that do not need the histories' rows."""
        rank, world = int(shard[0]), int(shard[1])
        if not (0 <= rank < world):
            raise InvalidInputError(f"shard must be (rank, world) with 0 <= rank < world, got {shard}")
        H, F, k = self._validate(histories, futures, rule, k, column_tokens)
        if column_tokens is not None:
            cols, rule = np.asarray(column_tokens, dtype=np.int64), "explicit"
        elif rule == "full":
            cols = None
        elif rule == "topk_average":
            cols = np.full((len(F), k), -1, dtype=np.int64)             # filled chunk by chunk
        else:
            # Exactly the reference rule (same function, same rng draws).
            cols = choose_column_tokens(self.lm, H, F, rule, k, rng=rng)
        return ColumnPlan(H, F, rule, k, cols, self.future_chunk, (rank, world))

    # --- the history bank -----------------------------------------------------------------
    def _bank(self, H):
        """The history bank on the path chosen for this request; also sets :attr:`history_states_`."""
        bank = self._passes.bank(H, self._passes.path)
        self.history_states_ = (self._passes.history_states(bank, len(H)) if self.head_mode == "identity" and bank
                                else None)
        return bank

    def _chunk_features(self, bank, F_chunk, n_hist: int) -> torch.Tensor:
        """Final features φ(h∘f) for all histories × the chunk's futures: (|H|, nf, m)."""
        return self._passes.chunk_features(bank, F_chunk, n_hist)

    # --- the streaming loop ---------------------------------------------------------------
    def _fingerprint(self, plan: ColumnPlan, save_matrix: bool) -> dict:
        return {"model": self.lm.fingerprint(), "histories": hash_sequences(plan.histories),
                "futures": hash_sequences(plan.futures), "n_histories": len(plan.histories),
                "n_futures": len(plan.futures), "rule": plan.rule, "k": plan.k,
                "columns": None if plan.columns is None else hash_sequences(plan.columns),
                "future_chunk": self.future_chunk, "head_mode": self.head_mode,
                "head_dtype": str(self.head_dtype), "shard": list(plan.shard), "save_matrix": bool(save_matrix)}

    def _stream(self, plan: ColumnPlan, G, cols, done: int, *, store=None, save_matrix=False, sink=None,
                on_chunk=None) -> int:
        """Chunks ``plan.my_chunks[done:]``: features → columns → block → G += X Xᵀ → save.

        Updates ``G`` (unless None) and ``cols`` in place, appends float32 blocks to ``sink``
        (a list) and returns the number of chunks done.
        """
        mine = plan.my_chunks
        n = len(plan.histories)
        if done < len(mine):
            self._passes.choose_path(plan.histories, plan.futures, packing=self.packing)
        bank = self._bank(plan.histories) if done < len(mine) else None
        if bank is None:                    # resumed with every chunk done: no history pass, no states
            self.history_states_ = None
        bar = progress_bar(total=len(mine), initial=done, disable=not self.progress, desc="L(H,F) chunks", unit="chunk",
                   leave=False)
        for c in mine[done:]:
            sl = plan.futures_of(c)
            feats = self._chunk_features(bank, plan.futures[sl], n)
            if plan.rule == "topk_average":
                cols[sl] = self._columns.topk_average(feats, plan.futures[sl], plan.k)
            block, X = self._columns.chunk_block(feats, None if cols is None else cols[sl], sink is not None or save_matrix)
            if G is not None:
                G += (X @ X.T).cpu().numpy()
            if block is not None:
                arr = block.reshape(n, -1).float().cpu().numpy()
                if sink is not None:
                    sink.append(arr)
                if save_matrix:
                    store.save_block(c, arr)
            done += 1
            if store is not None:
                store.save_state(G, done, cols)
            bar.update(1)
            if on_chunk is not None:
                on_chunk(done, len(mine))
        bar.close()
        return done

    def _column_tokens_out(self, cols, n_futures: int) -> np.ndarray:
        """The result's columns; the full vocabulary as one shared row when |F|·|Σ| is large."""
        if cols is not None:
            return cols
        row = np.arange(self.V, dtype=np.int64)
        return np.tile(row, (n_futures, 1)) if self.V * n_futures <= 5e7 else row[None, :]

    @torch.no_grad()
    def gram(self, histories, futures, *, rule: str = "full", k: int | None = None,
             rng: np.random.Generator | None = None, column_tokens=None, run_dir: str | Path | None = None,
             save_matrix: bool = False, shard: tuple[int, int] = (0, 1),
             on_chunk: Callable[[int, int], None] | None = None) -> LogitGram:
        """Stream L(H, F) future-chunk by future-chunk into a float64 Gram.

        Parameters
        ----------
        histories, futures : token sequences (ragged allowed; the empty future is ``[]``).
        rule, k, rng : the column rule of :func:`~logitrank.theory.logit_matrix.choose_column_tokens`.
        column_tokens : explicit (|F|, k) columns (e.g. a history matrix's, for a target row).
        run_dir : checkpoint directory (resume after a kill; see module notes).
        save_matrix : also write each chunk's block to ``run_dir/matrix/`` (float32 .npy).
        shard : (rank, world) — process chunks c with c % world == rank.
        on_chunk : called as ``on_chunk(chunks_done, chunks_total)`` after each chunk is in
            the Gram and checkpointed (progress reporting; an exception raised there stops the
            run as a kill would, and the run resumes from that chunk).

        Returns
        -------
        LogitGram. In a sharded run the Gram and the columns are this shard's part (unfilled
        columns are −1).
        """
        t0 = time.perf_counter()
        if save_matrix and run_dir is None:
            raise InvalidInputError("save_matrix=True needs a run_dir to write the chunks into")
        plan = self._plan(histories, futures, rule, k, rng, column_tokens, shard)
        return self._gram_of_plan(plan, run_dir, save_matrix, on_chunk, t0)

    def _gram_of_plan(self, plan: ColumnPlan, run_dir, save_matrix: bool, on_chunk, t0: float) -> LogitGram:
        """:meth:`gram` after its plan is made (the columns of a ``random`` rule drawn once); ``t0``: its start."""
        tok0 = self.tokens_processed
        n = len(plan.histories)
        G, cols, done = np.zeros((n, n)), None if plan.columns is None else plan.columns.copy(), 0
        store = None
        if run_dir is not None:
            store = CheckpointStore(run_dir, plan.shard, self._fingerprint(plan, save_matrix))
            saved = store.open()
            if saved is not None:
                G, done, cols = saved
        done = self._stream(plan, G, cols, done, store=store, save_matrix=save_matrix, on_chunk=on_chunk)
        res = LogitGram(G, self._column_tokens_out(cols, len(plan.futures)), plan.rule, n, len(plan.futures),
                        time.perf_counter() - t0, self.tokens_processed - tok0)
        if store is not None and done == len(plan.my_chunks):
            store.mark_done(len(plan.my_chunks), res.seconds)
        return res

    def singular_values(self, histories, futures, **kw) -> np.ndarray:
        """Singular values of L(H, F) (descending) from the streaming Gram."""
        return self.gram(histories, futures, **kw).singular_values()

    @torch.no_grad()
    def matrix(self, histories, futures, *, rule: str = "full", k: int | None = None,
               rng: np.random.Generator | None = None, column_tokens=None,
               run_dir: str | Path | None = None) -> LogitMatrix:
        """The dense extended logit matrix (same object as the reference path returns).

        With ``run_dir`` the chunks go through :meth:`gram` with ``save_matrix=True`` (checkpointed:
        a killed run resumes from its last chunk) and the matrix is assembled from them; the float32
        blocks are the same either way, so the values are too.
        """
        t0 = time.perf_counter()
        plan = self._plan(histories, futures, rule, k, rng, column_tokens, (0, 1))
        H, F = plan.histories, plan.futures
        if run_dir is not None:
            g = self._gram_of_plan(plan, run_dir, True, None, t0)
            vals, cols = load_matrix_chunks(run_dir).astype(np.float64), g.column_tokens
        else:
            cols = None if plan.columns is None else plan.columns.copy()
            blocks: list[np.ndarray] = []
            self._stream(plan, None, cols, 0, sink=blocks)
            vals = np.concatenate(blocks, axis=1).astype(np.float64) if blocks else np.zeros((len(H), 0))
            cols = self._column_tokens_out(cols, len(F))
        if cols.shape[0] != len(F):
            cols = np.tile(cols, (len(F), 1))
        return LogitMatrix(vals, cols, H, F, plan.rule)


def load_matrix_chunks(run_dir: str | Path) -> np.ndarray:
    """Assemble the matrix written with ``save_matrix=True`` (chunks in future order)."""
    files = sorted((Path(run_dir) / "matrix").glob("chunk*.npy"))
    if not files:
        raise InvalidInputError(f"no matrix chunks under {run_dir}/matrix; run with save_matrix=True")
    return np.concatenate([np.load(f) for f in files], axis=1)


_CACHE_ATTR = "_logitrank_engine_cache"


def _weights_state(lm) -> tuple:
    """Where the model's parameters live and how often each was modified in place.

    Changes when a parameter is replaced (new storage) or updated in place (an optimizer step
    bumps the tensor's version counter), so a cached engine or matrix is never used for other
    weights.
    """
    return tuple((p.data_ptr(), p._version) for p in lm.model.parameters())


def _cached_engine(lm) -> tuple:
    """The engine and the matrix memo of ``lm``, kept on the model object itself.

    The cache lives and dies with the model (no module-level table keyed by ``id(model)``,
    which Python reuses after garbage collection) and is rebuilt when the weights change.
    """
    state = _weights_state(lm)
    cache = lm.__dict__.get(_CACHE_ATTR)
    if cache is None or cache[0] != state:
        cache = (state, LogitMatrixEngine(lm, progress=False), {})
        lm.__dict__[_CACHE_ATTR] = cache
    return cache[1], cache[2]


def engine_logit_matrix(model, histories, futures, *, rule: str = "full", k: int | None = None,
                        rng: np.random.Generator | None = None, column_tokens=None) -> LogitMatrix:
    """Drop-in for :func:`~logitrank.theory.logit_matrix.extended_logit_matrix` on an HF model.

    Same signature and result; other sequence models go to the reference path. Pass it as
    ``matrix_fn`` to LINGEN. The engine and the last few deterministic results are cached on
    the model object (rebuilt if its weights change).
    """
    from logitrank.real_models.adapter import HFCausalLM
    if not isinstance(model, HFCausalLM):
        from logitrank.theory.logit_matrix import extended_logit_matrix
        return extended_logit_matrix(model, histories, futures, rule=rule, k=k, rng=rng,
                                     column_tokens=column_tokens)
    eng, memo = _cached_engine(model)
    # Deterministic requests (every rule but "random") are memoised: LINGEN asks for the
    # same history matrix once per target.
    key = None
    if rule != "random" or column_tokens is not None:
        key = (hash_sequences(_as_sequence_list(histories, "histories", model.vocab_size)),
               hash_sequences(_as_sequence_list(futures, "futures", model.vocab_size)), rule, k,
               None if column_tokens is None else hash_sequences(np.asarray(column_tokens)))
        if key in memo:
            return memo[key]
    res = eng.matrix(histories, futures, rule=rule, k=k, rng=rng, column_tokens=column_tokens)
    if key is not None:
        memo[key] = res
        while len(memo) > 4:
            memo.pop(next(iter(memo)))
    return res
