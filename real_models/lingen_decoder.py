"""Incremental decoding for LINGEN generation: the histories' KV caches advanced one token per step.

Same computation as :func:`logitrank.theory.lingen.lingen_generate` on a wrapped causal LM
(:class:`~logitrank.real_models.adapter.HFCausalLM`): at step t LINGEN queries the centered
logits L[· | h ∘ z_{1:t−1}] of every history h ∈ H (Golowich, Liu, Shetty 2025, §3, Alg. 1)
and the generic path runs one forward pass of BOS ∘ h ∘ z_{1:t−1} per history — every step
recomputes every history and every generated token (Σ_t |H|·(1 + |h| + t − 1) tokens
instead of |H|·(1 + |h| + T − 1)). The adapter's own KV reuse catches it only while a whole
step fits its store: it keeps at most 16 query batches (``batch_size`` = 32 prefixes each) and
0.5 GiB of keys/values on CPU, and one LINGEN step queries |H|·n_samples prefixes of
1 + |h| + t positions, so from about |H|·n_samples > 512 (|H| = 128 with 5 samples), or
earlier by memory, the previous step's batches are evicted before they are extended.

:class:`LinGenDecoder` is a :class:`~logitrank.theory.sequence_model.SequenceModel` that
answers exactly the queries LINGEN makes, and hands every other query to the wrapped model,
so ``lingen_generate(LinGenDecoder(lm, H), H, coef, …)`` and
``lingen_evaluate(LinGenDecoder(lm, H), target, H, F, …)`` work unchanged (theory/lingen.py
has no hook for it). Design points, each an optimisation of the same definition:

1. **History bank** (the rows h of the queries h ∘ z). Each history runs once, after the
   model's prefix tokens (``lm.prefix_tokens``, e.g. BOS), in batches of ``history_batch``
   histories of one length (no padding, so no attention mask: the cached keys and values are
   those of the unpadded forward). The per-layer keys/values are kept, shared by every
   generated suffix, and the last position's logits answer the step-1 query h ∘ ∅.
2. **Suffix caches** (the z of h ∘ z). A query row h ∘ z is recognised by its history (the
   longest history of H it starts with); the rest is the suffix z. The keys/values of a
   suffix's positions are kept per history batch, keyed by z. When the parent z_{1:t−1} is
   kept, only the new token z_t runs through the model (attending to bank + parent suffix),
   which is how a step of :func:`~logitrank.theory.lingen.lingen_generate` extends every
   history by the same sampled token; otherwise z runs in full on top of the bank (e.g. the
   futures of the LINGEN fit, h ∘ f). Positions are implicit (cache length), so the rotary
   phases are those of the full forward.
3. **Bounded memory.** Suffix caches live in an LRU store of at most ``max_cache_bytes``; a
   parent is dropped once a child is computed from it (a trajectory is extended once per
   step). An evicted suffix is recomputed on top of the bank: slower, same logits. The bank
   itself is |H|·(len(prefix_tokens) + |h|) positions of keys/values and is always kept.
4. **Exactness.** The logits are those of the full forward up to float rounding (the cached
   attention sums the same terms in another order); :func:`~logitrank.theory.sequence_model.sample_from_logits`
   then draws the same samples from the same rng. The test pins same samples and per-step
   KL to 1e-6 against the generic path on a tiny Llama (float32 and float64).
5. **Anything else falls through.** Prefixes that start with no history (the target
   prompt's rows while scoring, the last-m baseline) go to the wrapped model unchanged.

6. **Any cache, one token a step.** Models whose cache is not a plain per-layer key/value cache
   — sliding-window layers, the recurrent state of a state-space model (Mamba, RWKV), hybrids
   (Jamba) — keep the whole cache object per history chunk and per kept suffix instead of the
   suffix's positions: a child z_{1:t} is its parent's cache, copied
   (:func:`~logitrank.real_models.family.select_cache_rows`) and advanced by z_t. A recurrent
   state has a fixed size whatever |h|, so each kept suffix costs the same as the bank. This is
   used only where the model's cached one-token step reproduces its full forward
   (:func:`~logitrank.real_models.family.cached_step_is_exact`); elsewhere every query falls
   through to the wrapped model.

References
----------
Golowich, Liu, Shetty (2025), "Sequences of Logits Reveal the Low Rank Structure of Language
Models", §3, Algorithm 1 (LINGEN).
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import torch

from logitrank.errors import InvalidInputError
from logitrank.real_models.family import (agreement_tolerance, cache_nbytes, cached_step_is_exact, model_logits,
                                          output_cache, select_cache_rows)
from logitrank.theory.lingen import lingen_generate
from logitrank.theory.sequence_model import SequenceModel

__all__ = ["LinGenDecoder", "lingen_generate_incremental", "centered_unembedding", "next_token_states"]


class _Chunk:
    """Up to ``history_batch`` histories of one length and their bank keys/values."""

    def __init__(self, rows: np.ndarray, index: np.ndarray):
        self.rows, self.index = rows, index          # (B, |h|) tokens, (B,) positions in H
        self.kv: list[tuple[torch.Tensor, torch.Tensor]] | None = None
        self.cache = None                            # the whole cache object (any family; design point 6)
        self.logits: np.ndarray | None = None        # (B, V) float64 logits of h ∘ ∅


class LinGenDecoder(SequenceModel):
    """The wrapped LM, answering LINGEN's queries h ∘ z (h ∈ H) from kept KV caches.

    Parameters
    ----------
    lm : an :class:`~logitrank.real_models.adapter.HFCausalLM` (uses its ``model``,
        ``prefix_tokens``, ``device``, ``vocab_size``; every other query goes to it).
    histories : the histories H of the LINGEN fit (token sequences; lengths may differ).
    history_batch : histories per forward pass.
    max_cache_bytes : memory for suffix caches (default 2 GiB on CPU, 8 GiB on CUDA). They need
        |H|·samples·t positions of keys/values at step t (SmolLM2 float32: 46 KiB a position);
        beyond the budget the oldest are evicted and recomputed (design point 3).

    Attributes
    ----------
    tokens_ : tokens sent through the model by this object's own forward passes.
    bank_bytes_ : bytes of the history bank (keys and values of all layers).

    Notes
    -----
    Logits equal the wrapped model's up to float rounding (design point 4 of the module).

    References
    ----------
    Golowich, Liu, Shetty (2025), §3, Algorithm 1 (LINGEN).

    Examples
    --------
    >>> import numpy as np, sys; sys.path.insert(0, "tests")
    >>> from _tiny_llama import tiny_llama
    >>> from logitrank.theory.lingen import lingen_generate
    >>> lm = tiny_llama(); H = [np.array([3, 4, 5]), np.array([6, 7, 8])]
    >>> dec = LinGenDecoder(lm, H)
    >>> lingen_generate(dec, H, np.array([0.5, 0.5]), 4, np.random.default_rng(0)).shape
    (1, 4)
    """

    horizon = None

    def __init__(self, lm, histories, *, history_batch: int = 64, max_cache_bytes: float | None = None):
        if history_batch < 1:
            raise InvalidInputError(f"history_batch must be >= 1, got {history_batch}")
        H = [np.asarray(h, dtype=np.int64).reshape(-1) for h in histories]
        if not H:
            raise InvalidInputError("LinGenDecoder needs at least one history")
        self.lm = lm
        self.vocab_size = int(lm.vocab_size)
        self.history_batch = int(history_batch)
        if max_cache_bytes is None:
            max_cache_bytes = (8 if lm.device.type == "cuda" else 2) * 2**30
        self.max_cache_bytes = float(max_cache_bytes)
        self.tokens_ = 0
        self.bank_bytes_ = 0
        for h in H:                                 # vocabulary and context, before any forward
            lm.validate_prefixes(h.reshape(1, -1))
        # Chunks of equal-length histories, in the order of H; (length, tokens) → (chunk, row).
        self._chunks: list[_Chunk] = []
        self._where: dict[int, dict[tuple, tuple[int, int]]] = {}
        for length in sorted({len(h) for h in H}):
            idx = np.array([i for i, h in enumerate(H) if len(h) == length], dtype=np.int64)
            for s in range(0, len(idx), self.history_batch):
                part = idx[s:s + self.history_batch]
                rows = np.stack([H[i] for i in part]).reshape(len(part), length)
                c = len(self._chunks)
                self._chunks.append(_Chunk(rows, part))
                table = self._where.setdefault(length, {})
                for r, toks in enumerate(rows.tolist()):
                    table.setdefault(tuple(toks), (c, r))
        self._lengths = sorted(self._where, reverse=True)            # longest history first
        self._suffix: OrderedDict = OrderedDict()   # (chunk, z tuple) → [(k, v) per layer] of z's positions
        self._suffix_bytes = 0
        self._cache_kw = lm.family.cache_kwarg
        self._plain_cache = self._has_plain_cache()
        # "kv": suffix keys/values (design point 2); "state": whole caches (6); "none": fall through (5)
        step_ok = cached_step_is_exact(lm)
        self.mode = ("kv" if self._plain_cache and step_ok and self._kv_mode_works()
                     else "state" if step_ok else "none")

    # --- helpers -----------------------------------------------------------------------
    def _has_plain_cache(self) -> bool:
        """Every layer of the family's cache is a plain key/value layer (read into ``lm.family``
        from an empty cache of its config), and the forward keeps only the needed logits."""
        fam = self.lm.family
        return (fam.cache_kwarg is not None and fam.cache_kind == "kv" and fam.takes_logits_to_keep
                and bool(fam.cache_layers)
                and all(name == "DynamicLayer" for name in fam.cache_layers))

    @torch.no_grad()
    def _kv_mode_works(self) -> bool:
        """Whether the forward returns a plain per-layer key/value cache that, rebuilt from its
        (keys, values) as design point 2 does, continues to the full forward's logits."""
        from transformers import DynamicCache
        from transformers.cache_utils import DynamicLayer
        head = list(self.lm.prefix_tokens)
        ids = torch.tensor([head + [2, 3, 4, 5]], device=self.lm.device)
        try:
            out = self.lm.model(input_ids=ids[:, :-1], use_cache=True)
            cache = output_cache(out)
            layers = getattr(cache, "layers", None)
            if type(cache) is not DynamicCache or not layers or any(type(la) is not DynamicLayer for la in layers):
                return False
            kv = [(la.keys, la.values) for la in layers]
            step = self.lm.model(input_ids=ids[:, -1:], use_cache=True,
                                 **{self._cache_kw: DynamicCache(kv, config=self.lm.model.config)}).logits[0, -1]
            full = self.lm.model(input_ids=ids).logits[0, -1]
        except Exception:  # any failure of the rebuilt cache: the generic modes
            return False
        return float((step - full).abs().max()) <= agreement_tolerance(self.lm.dtype, float(full.abs().max()) + 1)
    def _forward(self, ids: torch.Tensor, kv):
        from transformers import DynamicCache
        kw = {"use_cache": True}
        if kv is not None:
            kw[self._cache_kw] = DynamicCache(kv, config=self.lm.model.config)
        self.tokens_ += int(ids.numel())
        res = self.lm.model(input_ids=ids, logits_to_keep=1, **kw)
        cache = output_cache(res)
        kv_out = [(layer.keys, layer.values) for layer in cache.layers]
        return res.logits[:, -1].double().cpu().numpy(), kv_out

    def _bank(self, c: int) -> _Chunk:
        chunk = self._chunks[c]
        if chunk.kv is None:
            head = torch.tensor(self.lm.prefix_tokens, dtype=torch.long).reshape(1, -1)
            ids = torch.cat([head.expand(chunk.rows.shape[0], -1), torch.from_numpy(chunk.rows)], dim=1)
            if self.mode == "state":
                chunk.logits, chunk.cache = self._forward_any(ids.to(self.lm.device), None)
                chunk.kv = []
                self.bank_bytes_ += cache_nbytes(chunk.cache)
            else:
                chunk.logits, chunk.kv = self._forward(ids.to(self.lm.device), None)
                self.bank_bytes_ += sum(k.numel() * k.element_size() * 2 for k, _ in chunk.kv)
        return chunk

    def _forward_any(self, ids: torch.Tensor, cache):
        """Last-position logits and the returned cache object (any cache; design point 6)."""
        self.tokens_ += int(ids.numel())
        logits, new_cache = model_logits(self.lm.model, self.lm.family, ids, keep=1, cache=cache, use_cache=True)
        return logits[:, -1].double().cpu().numpy(), new_cache

    @torch.no_grad()
    def _state_suffix_logits(self, c: int, z: tuple) -> np.ndarray:
        """Design point 6: the parent's whole cache copied and advanced by one token (or, without a
        kept parent, the bank's cache advanced through z one token at a time)."""
        chunk = self._bank(c)
        B = chunk.rows.shape[0]
        parent = self._suffix.get((c, z[:-1]))
        start, new = (parent[0], z[-1:]) if parent is not None else (chunk.cache, z)
        cache = select_cache_rows(start, torch.arange(B), B)
        for tok in new:
            ids = torch.full((B, 1), int(tok), dtype=torch.long, device=self.lm.device)
            logits, cache = self._forward_any(ids, cache)
        self._drop((c, z[:-1]))
        self._store((c, z), cache, cache_nbytes(cache))
        return logits

    def _store(self, key, kv, nbytes: int | None = None) -> None:
        if nbytes is None:
            nbytes = sum(k.numel() * k.element_size() * 2 for k, _ in kv)
        if nbytes > self.max_cache_bytes:
            return
        self._suffix[key] = (kv, nbytes)
        self._suffix_bytes += nbytes
        while self._suffix_bytes > self.max_cache_bytes:
            _, (_, b) = self._suffix.popitem(last=False)
            self._suffix_bytes -= b

    def _drop(self, key) -> None:
        item = self._suffix.pop(key, None)
        if item is not None:
            self._suffix_bytes -= item[1]

    @torch.no_grad()
    def _suffix_logits(self, c: int, z: tuple) -> np.ndarray:
        """Logits of h ∘ z for every history h of chunk ``c``, ``(B, V)`` (design points 1–3)."""
        chunk = self._bank(c)
        if not z:
            return chunk.logits
        if self.mode == "state":
            return self._state_suffix_logits(c, z)
        key = (c, z)
        if key in self._suffix:                      # asked again (e.g. two samples share z)
            self._suffix.move_to_end(key)
        parent = self._suffix.get((c, z[:-1]))
        base = len(self.lm.prefix_tokens) + chunk.rows.shape[1]
        if parent is not None:
            kv = [(torch.cat([bk, pk], dim=-2), torch.cat([bv, pv], dim=-2))
                  for (bk, bv), (pk, pv) in zip(chunk.kv, parent[0])]
            new = z[-1:]
        else:
            kv, new = chunk.kv, z
        B = chunk.rows.shape[0]
        ids = torch.tensor(new, dtype=torch.long).reshape(1, -1).expand(B, -1).contiguous()
        logits, kv_out = self._forward(ids.to(self.lm.device), kv)
        self._drop((c, z[:-1]))
        self._store(key, [(k[..., base:, :].clone(), v[..., base:, :].clone()) for k, v in kv_out])
        return logits

    def _locate(self, row: tuple):
        for length in self._lengths:
            if length <= len(row):
                hit = self._where[length].get(row[:length])
                if hit is not None:
                    return hit, row[length:]
        return None, None

    # --- the interface -----------------------------------------------------------------
    def validate_prefixes(self, prefixes) -> np.ndarray:
        return self.lm.validate_prefixes(prefixes)

    def _logits(self, prefixes: np.ndarray) -> np.ndarray:
        out = np.empty((prefixes.shape[0], self.vocab_size))
        plain = []
        wanted: dict[tuple[int, tuple], list[tuple[int, int]]] = {}
        for i, row in enumerate(prefixes.tolist()):
            hit, z = self._locate(tuple(row)) if self.mode != "none" else (None, None)
            if hit is None:
                plain.append(i)
            else:
                wanted.setdefault((hit[0], z), []).append((i, hit[1]))
        for (c, z), targets in wanted.items():
            logits = self._suffix_logits(c, z)
            for i, r in targets:
                out[i] = logits[r]
        if plain:
            out[plain] = self.lm.next_token_logits(prefixes[plain])
        return out

    def clear(self) -> None:
        """Drop the bank and the suffix caches (frees memory; they are rebuilt on demand)."""
        for chunk in self._chunks:
            chunk.kv = chunk.logits = chunk.cache = None
        self._suffix.clear()
        self._suffix_bytes = 0
        self.bank_bytes_ = 0


def lingen_generate_incremental(lm, histories, coef, n_steps: int, rng: np.random.Generator,
                                n_samples: int = 1, *, history_batch: int = 64) -> np.ndarray:
    """:func:`~logitrank.theory.lingen.lingen_generate` with the histories' KV caches kept.

    Same samples as ``lingen_generate(lm, histories, coef, n_steps, rng, n_samples)`` (same rng
    draws; logits equal up to float rounding), ``(n_samples, n_steps)``.

    References
    ----------
    Golowich, Liu, Shetty (2025), §3, Algorithm 1 (LINGEN).

    Examples
    --------
    >>> import numpy as np, sys; sys.path.insert(0, "tests")
    >>> from _tiny_llama import tiny_llama
    >>> H = [np.array([3, 4, 5]), np.array([6, 7, 8])]
    >>> lingen_generate_incremental(tiny_llama(), H, np.array([0.5, 0.5]), 3,
    ...                             np.random.default_rng(0), n_samples=2).shape
    (2, 3)
    """
    dec = LinGenDecoder(lm, histories, history_batch=history_batch)
    try:
        return lingen_generate(dec, histories, coef, n_steps, rng, n_samples)
    finally:
        dec.clear()


def centered_unembedding(lm) -> np.ndarray:
    """Ψ_c = Ψ − 1ψ̄ᵀ, the centered unembedding rows, ``(vocab, d_model)`` float64.

    With it the centered next-token logits are L[· | p] = Ψ_c φ(p) (Golowich, Liu, Shetty
    2025, Def. 2.1 and the identity L[z | p] = φ(p)ᵀ(ψ(z) − ψ̄)); raises for a head with a bias.
    """
    W = lm.unembedding()
    return W - W.mean(axis=0, keepdims=True)


def next_token_states(lm, sequences, *, batch_size: int = 64, check: bool = True) -> np.ndarray:
    """φ(prefix ∘ s): final hidden states after the model's prefix tokens, ``(n, d_model)`` float64.

    The factor of the next-token rows L[· | s] = Ψ_c φ(s) that
    :func:`~logitrank.theory.lingen.hidden_space_rows` needs. With ``check`` the identity is
    verified on the first sequence against the model's own centered logits (raises
    :class:`~logitrank.errors.ModelOutputError` for soft-capped or scaled heads).

    Examples
    --------
    >>> import numpy as np, sys; sys.path.insert(0, "tests")
    >>> from _tiny_llama import tiny_llama
    >>> next_token_states(tiny_llama(), [np.array([3, 4, 5])]).shape
    (1, 32)
    """
    from logitrank.errors import ModelOutputError
    from logitrank.theory.logit_matrix import centered_logits_of
    seqs = [np.asarray(x, dtype=np.int64).reshape(-1) for x in sequences]
    for x in seqs:
        if len(x):
            lm.validate_prefixes(x.reshape(1, -1))
    head = [int(t) for t in lm.prefix_tokens]
    phi = lm.final_hidden_states([head + x.tolist() for x in seqs], batch_size=batch_size)
    if check and seqs:
        want = centered_logits_of(lm, [seqs[0]])[0]
        got = centered_unembedding(lm) @ phi[0]
        if not np.allclose(got, want, atol=1e-3 * max(1.0, float(np.abs(want).max()))):
            raise ModelOutputError("the centered logits are not Ψ_c φ (soft-capped or scaled LM head?); "
                                   "the hidden-space next-token fit needs a plain linear head")
    return phi
