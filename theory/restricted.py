"""A small-alphabet, fixed-horizon view of any sequence model.

:class:`RestrictedVocabularyModel` turns a model over a large vocabulary (a wrapped LLM)
into a model over Σ' = {0, …, k−1}: token i of Σ' stands for ``token_ids[i]`` of the base
model, and the next-token distribution is the base distribution *conditioned on* staying
in those k tokens, P'(i | p) ∝ P(token_ids[i] | prompt ∘ map(p)). Its logits are the base
logits restricted to the k columns (the log-normaliser of the restriction cancels under
softmax and centering). With a horizon T this is a proper distribution over Σ'^T, small
enough for the learners and for exact or sampled TV.
"""

from __future__ import annotations

import numpy as np

from logitrank.errors import InvalidInputError
from logitrank.theory.sequence_model import SequenceModel

__all__ = ["RestrictedVocabularyModel"]


class RestrictedVocabularyModel(SequenceModel):
    """The base model conditioned on a k-token alphabet, after a fixed prompt.

    Parameters
    ----------
    base : SequenceModel
        Any model (e.g. ``logitrank.real_models.adapter.HFCausalLM``).
    token_ids : sequence of k ≥ 2 distinct base token ids.
    horizon : int or None
        T of the restricted model (default: the base horizon minus the prompt length;
        required when the base has none).
    prompt : sequence of base token ids, optional
        Prepended to every prefix (not part of the restricted sequences).
    cache : bool, default False
        Memoise logits per prefix (the base is deterministic), so that a learner's
        queries, sampling and TV estimation share forward passes of an expensive base.
    """

    def __init__(self, base: SequenceModel, token_ids, *, horizon: int | None = None, prompt=None,
                 cache: bool = False) -> None:
        if not isinstance(base, SequenceModel):
            raise InvalidInputError(f"base must be a logitrank SequenceModel, got {type(base).__name__}")
        ids = np.asarray(token_ids, dtype=np.int64).reshape(-1)
        if ids.size < 2 or len(set(ids.tolist())) != ids.size:
            raise InvalidInputError(f"token_ids must hold at least 2 distinct token ids, got {ids.tolist()}")
        if ids.min() < 0 or ids.max() >= base.vocab_size:
            raise InvalidInputError(
                f"token_ids must lie in the base vocabulary [0, {base.vocab_size}), got {ids.tolist()}")
        prompt = np.zeros(0, dtype=np.int64) if prompt is None else np.asarray(prompt, dtype=np.int64).reshape(-1)
        if prompt.size and (prompt.min() < 0 or prompt.max() >= base.vocab_size):
            raise InvalidInputError("prompt tokens must lie in the base vocabulary")
        if horizon is None:
            if base.horizon is None:
                raise InvalidInputError("the base model has no horizon; pass horizon=T")
            horizon = base.horizon - prompt.size
        if isinstance(horizon, bool) or not isinstance(horizon, (int, np.integer)) or horizon < 1 or \
                (base.horizon is not None and horizon + prompt.size > base.horizon):
            raise InvalidInputError(
                f"horizon T={horizon} is out of range: need 1 <= T and prompt + T <= base horizon "
                f"({base.horizon})")
        self.base, self.token_ids, self.prompt = base, ids, prompt
        self.vocab_size, self.horizon = int(ids.size), int(horizon)
        self._cache: dict[tuple, np.ndarray] | None = {} if cache else None
        self.n_base_prefixes = 0     # prefixes actually sent to the base model

    def to_base(self, prefixes) -> np.ndarray:
        """Base-model token ids (prompt included) of a batch of restricted prefixes."""
        arr = self.validate_prefixes(prefixes)
        head = np.broadcast_to(self.prompt, (arr.shape[0], self.prompt.size))
        return np.concatenate([head, self.token_ids[arr]], axis=1)

    def _base_logits(self, prefixes: np.ndarray) -> np.ndarray:
        head = np.broadcast_to(self.prompt, (prefixes.shape[0], self.prompt.size))
        full = np.concatenate([head, self.token_ids[prefixes]], axis=1).astype(np.int64)
        self.n_base_prefixes += prefixes.shape[0]
        return self.base.next_token_logits(full)[:, self.token_ids]

    def _logits(self, prefixes: np.ndarray) -> np.ndarray:
        if self._cache is None:
            return self._base_logits(prefixes)
        keys = [tuple(r) for r in prefixes.tolist()]
        missing = list(dict.fromkeys(k for k in keys if k not in self._cache))
        if missing:
            arr = np.asarray(missing, dtype=np.int64).reshape(len(missing), prefixes.shape[1])
            for k, row in zip(missing, self._base_logits(arr)):
                self._cache[k] = row
        return np.stack([self._cache[k] for k in keys])
