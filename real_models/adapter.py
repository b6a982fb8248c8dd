"""A Hugging Face causal LM seen as a theory-side :class:`SequenceModel`.

This is the *generic path*: every query is one forward pass over the whole prefix and the
logits of the last position come back to the host as float64. Every estimator written
against the interface (extended logit matrix, LINGEN, the query learner) runs on it
unchanged. The fast engine in :mod:`logitrank.real_models.engine` optimises the same
computation and is tested against this path.
"""

from __future__ import annotations

import numpy as np
import torch

from logitrank.errors import InvalidInputError
from logitrank.real_models.loading import SMOLLM2, default_device, load_causal_lm
from logitrank.theory.sequence_model import SequenceModel

__all__ = ["HFCausalLM"]


class HFCausalLM(SequenceModel):
    """Wrap a causal LM and its tokenizer as a sequence model over the full vocabulary.

    Parameters
    ----------
    model, tokenizer : a transformers causal LM (eval mode) and its tokenizer.
    prefix_tokens : tokens prepended to every query (default: the BOS token if the
        tokenizer has one, else none). The empty prefix is only valid if this is non-empty.
    batch_size : prefixes per forward pass.

    Notes
    -----
    ``vocab_size`` is the width of the LM head (it can exceed ``len(tokenizer)``).
    Logits are computed in the model's dtype and returned as float64.
    """

    horizon = None

    def __init__(self, model, tokenizer, *, prefix_tokens=None, batch_size: int = 32):
        self.model = model
        self.tokenizer = tokenizer
        self.device = next(model.parameters()).device
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
    def from_pretrained(cls, name_or_path=SMOLLM2, *, dtype="float32", device=None, **kw) -> "HFCausalLM":
        """Load a model (``"smollm2"`` default, a GGUF file, a directory or a hub id) and wrap it."""
        model, tok = load_causal_lm(name_or_path, dtype=dtype, device=device or default_device())
        return cls(model, tok, **kw)

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
            chunk = torch.from_numpy(prefixes[start:start + self.batch_size])
            ids = torch.cat([head.expand(chunk.shape[0], -1), chunk], dim=1).to(self.device)
            logits = self.model(input_ids=ids, logits_to_keep=1).logits[:, -1]
            out[start:start + chunk.shape[0]] = logits.double().cpu().numpy()
        return out
