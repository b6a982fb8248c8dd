"""A Hugging Face causal LM seen as a theory-side :class:`SequenceModel`.

This is the *generic path*: every query is one forward pass over the whole prefix and the
logits of the last position come back to the host as float64. Every estimator written
against the interface (extended logit matrix, LINGEN, the query learner) runs on it
unchanged. The fast engine in :mod:`logitrank.real_models.engine` optimises the same
computation and is tested against this path.
"""

from __future__ import annotations

import copy
import inspect
from collections import OrderedDict

import numpy as np
import torch

from logitrank.errors import InvalidInputError
from logitrank.real_models.loading import SMOLLM2, default_device, load_causal_lm, random_init_twin
from logitrank.theory.sequence_model import SequenceModel

__all__ = ["HFCausalLM", "cache_nbytes"]


def cache_nbytes(cache) -> int:
    """Bytes held by a transformers KV cache (all layers, keys and values)."""
    total = 0
    for layer in getattr(cache, "layers", []):
        for name in ("keys", "values"):
            t = getattr(layer, name, None)
            if isinstance(t, torch.Tensor):
                total += t.numel() * t.element_size()
    return total


class HFCausalLM(SequenceModel):
    """Wrap a causal LM and its tokenizer as a sequence model over the full vocabulary.

    Parameters
    ----------
    model, tokenizer : a transformers causal LM (eval mode) and its tokenizer.
    prefix_tokens : tokens prepended to every query (default: the BOS token if the
        tokenizer has one, else none). The empty prefix is only valid if this is non-empty.
    batch_size : prefixes per forward pass.
    kv_reuse : keep the KV cache of the last few query batches and, when every prefix of a
        new batch is a cached prefix plus one token, run only that token (sampling and
        LINGEN generation query exactly such batches). Same logits up to float rounding.
    name : a label for provenance (the path or alias it was loaded from).

    Notes
    -----
    ``vocab_size`` is the width of the LM head (it can exceed ``len(tokenizer)``).
    Logits are computed in the model's dtype and returned as float64.
    """

    horizon = None

    def __init__(self, model, tokenizer, *, prefix_tokens=None, batch_size: int = 32,
                 kv_reuse: bool = True, name: str = "custom"):
        self.model = model
        self.name = str(name)
        self.kv_reuse = bool(kv_reuse)
        self._kv_batches: OrderedDict = OrderedDict()   # batch id -> (cache, {prefix tuple: row})
        self._kv_next_id = 0
        self.tokenizer = tokenizer
        self.device = next(model.parameters()).device
        # KV memory kept for reuse: more on a GPU, where batches are larger.
        self._KV_MAX_BYTES = (8 if self.device.type == "cuda" else 0.5) * 2**30
        out = model.get_output_embeddings()
        self.vocab_size = int(out.weight.shape[0]) if out is not None else int(model.config.vocab_size)
        if prefix_tokens is None:
            bos = getattr(tokenizer, "bos_token_id", None)
            prefix_tokens = [bos] if bos is not None else []
        self.prefix_tokens = [int(t) for t in prefix_tokens]
        self.max_context = int(getattr(model.config, "max_position_embeddings", 1 << 30))
        if batch_size < 1:
            raise InvalidInputError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size = batch_size

    @classmethod
    def from_pretrained(cls, name_or_path=SMOLLM2, *, dtype="float32", device=None, gguf_file=None,
                        **kw) -> "HFCausalLM":
        """Load a model (``"smollm2"`` default, a GGUF file, a directory or a hub id) and wrap it.

        ``device`` defaults to CUDA when available, else CPU; ``dtype`` to float32.
        Raises :class:`~logitrank.errors.ModelLoadError` for unknown paths or ids.
        """
        model, tok = load_causal_lm(name_or_path, gguf_file=gguf_file, dtype=dtype,
                                    device=device or default_device())
        kw.setdefault("name", str(name_or_path) + (f"/{gguf_file}" if gguf_file else ""))
        return cls(model, tok, **kw)

    def random_twin(self, seed: int = 0) -> "HFCausalLM":
        """The untrained null model: same architecture, config and tokenizer, seeded random init."""
        return type(self)(random_init_twin(self.model, seed), self.tokenizer, prefix_tokens=self.prefix_tokens,
                          batch_size=self.batch_size, kv_reuse=self.kv_reuse,
                          name=f"{self.name}:random-init-seed{seed}")

    @property
    def n_parameters(self) -> int:
        """Number of parameters (tied embeddings counted once)."""
        return int(sum(p.numel() for p in self.model.parameters()))

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    def fingerprint(self) -> dict:
        """A small description of the model that identifies it for checkpoint files."""
        probe = []
        for _, p in list(self.model.named_parameters())[:4]:
            flat = p.detach().reshape(-1)[:256].double().cpu()
            probe.append(round(float(flat.sum()), 6))
        return {"name": self.name, "class": type(self.model).__name__, "vocab_size": self.vocab_size,
                "n_parameters": self.n_parameters, "dtype": str(self.dtype).replace("torch.", ""),
                "prefix_tokens": self.prefix_tokens, "probe": probe}

    # --- text helpers -----------------------------------------------------------------
    def encode(self, text: str) -> np.ndarray:
        """Token ids of ``text`` without special tokens."""
        return np.asarray(self.tokenizer(text, add_special_tokens=False)["input_ids"], dtype=np.int64)

    def decode(self, tokens) -> str:
        """Text of a token sequence."""
        return self.tokenizer.decode([int(t) for t in tokens])

    # --- the interface ----------------------------------------------------------------
    def validate_prefixes(self, prefixes) -> np.ndarray:
        arr = super().validate_prefixes(prefixes)
        total = arr.shape[1] + len(self.prefix_tokens)
        if total > self.max_context:
            raise InvalidInputError(
                f"prefix of {arr.shape[1]} tokens (+{len(self.prefix_tokens)} prefix tokens) exceeds the "
                f"model's context of {self.max_context} tokens; shorten histories or futures")
        if total == 0:
            raise InvalidInputError("the empty prefix has no logits for a model without a BOS token; "
                                    "pass prefix_tokens=[...] or use non-empty prefixes")
        return arr

    @torch.no_grad()
    def _logits(self, prefixes: np.ndarray) -> np.ndarray:
        n = prefixes.shape[0]
        head = torch.tensor(self.prefix_tokens, dtype=torch.long).reshape(1, -1)
        out = np.empty((n, self.vocab_size))
        for start in range(0, n, self.batch_size):
            block = prefixes[start:start + self.batch_size]
            logits = self._cached_step(block) if self.kv_reuse else None
            if logits is None:
                ids = torch.cat([head.expand(block.shape[0], -1), torch.from_numpy(block)], dim=1)
                logits = self._forward(ids.to(self.device), None, block)
            out[start:start + block.shape[0]] = logits.double().cpu().numpy()
        return out

    # --- KV reuse for prefix-plus-one-token queries -----------------------------------------
    _KV_KEEP = 16                 # unused query batches whose caches are kept (a used one is dropped)
    _KV_MAX_BYTES = 512 * 2**20   # and at most this much KV memory (8 GiB on CUDA, set in __init__)

    def _cache_kw(self) -> str:
        params = inspect.signature(self.model.forward).parameters
        return "cache" if "cache" in params else "past_key_values"

    def _forward(self, ids: torch.Tensor, cache, block: np.ndarray) -> torch.Tensor:
        kw = {"use_cache": self.kv_reuse}
        if cache is not None:
            kw[self._cache_kw()] = cache
        res = self.model(input_ids=ids, logits_to_keep=1, **kw)
        if self.kv_reuse:
            new_cache = getattr(res, "cache", None)
            if new_cache is None:
                new_cache = getattr(res, "past_key_values", None)
            if new_cache is not None and hasattr(new_cache, "batch_select_indices"):
                self._remember(new_cache, block)
        return res.logits[:, -1]

    def _remember(self, cache, block: np.ndarray) -> None:
        self._kv_batches[self._kv_next_id] = (cache, {tuple(r): i for i, r in enumerate(block.tolist())})
        self._kv_next_id += 1
        while len(self._kv_batches) > 1 and (
                len(self._kv_batches) > self._KV_KEEP
                or sum(cache_nbytes(c) for c, _ in self._kv_batches.values()) > self._KV_MAX_BYTES):
            self._kv_batches.popitem(last=False)

    def clear_kv_cache(self) -> None:
        """Drop the kept KV caches (frees memory)."""
        self._kv_batches.clear()

    def _cached_step(self, block: np.ndarray):
        if block.shape[1] == 0 or not self._kv_batches:
            return None
        parents = [tuple(r[:-1]) for r in block.tolist()]
        for key, (cache, rows) in reversed(self._kv_batches.items()):
            idx = [rows.get(p) for p in parents]
            if all(i is not None for i in idx):
                break
        else:
            return None
        # A batch extended once is usually not extended again (sampling, LINGEN): drop it so
        # the kept caches stay about one generation of queries.
        del self._kv_batches[key]
        new = copy.deepcopy(cache)
        new.batch_select_indices(torch.tensor(idx, device=self.device))
        ids = torch.from_numpy(block[:, -1:].copy()).to(self.device)
        return self._forward(ids, new, block)
