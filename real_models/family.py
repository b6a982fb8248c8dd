"""What the fast paths may assume about a model: one description per loaded model.

Every causal-LM family that transformers ships answers the same question — the logits of a
prefix — but the shortcuts the engine and the LINGEN decoder take differ by family: whether a
history's cache can be copied row by row and extended, whether the extension may be several
tokens at once (a key/value cache) or must be one token at a time (a recurrent or state-space
state), whether a prefix-tree attention mask may stand in for per-future copies (full causal
attention with explicit positions only: not sliding windows, not ALiBi), and whether the
centered logit is the linear identity L[z | p] = φ(p)ᵀ(ψ(z) − ψ̄) (a bias-free, un-capped,
un-scaled head) — and, for the weights lens, which type each weight matrix has. :class:`ModelFamily`
is that knowledge for the model in hand, built from its config and its classes by :func:`describe_family`; :class:`~logitrank.real_models.adapter.HFCausalLM`
carries it as ``lm.family``.

The description only says which shortcuts are *candidates*. Each one is checked numerically on
the model before it is used — the engine compares every candidate against plain forwards on a
sample of the request itself and takes the first that agrees (``engine.path_``), the cached
decoding step is compared with the full forward once per model (:func:`cached_step_is_exact`)
— so a family this module misjudges costs speed, never a different number.

The cache plumbing (:func:`cache_kwarg`, :func:`output_cache`, :func:`select_cache_rows`) works on
any cache object transformers returns: a :class:`~transformers.Cache` with key/value, sliding-window
or linear-attention layers, or a plain list of state tensors (RWKV), by walking its tensors.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect

import numpy as np
import torch

from logitrank.errors import InvalidInputError
from logitrank.real_models._weight_types import weight_type_map

__all__ = ["ModelFamily", "describe_family", "find_decoder", "cache_kwarg", "output_cache", "select_cache_rows", "cache_nbytes",
           "model_logits", "cached_step_is_exact", "agreement_tolerance", "CACHE_KINDS"]

#: Cache kinds in order of what the fast paths can do with them.
#: ``kv``: full-attention keys/values only; ``sliding_kv``: keys/values with sliding-window or
#: chunked layers; ``state``: recurrent / linear-attention / state-space states only; ``hybrid``:
#: both; ``opaque``: a cache the model keeps inside its modules, or none at all.
CACHE_KINDS = ("kv", "sliding_kv", "state", "hybrid", "opaque")

_CACHE_KWARGS = ("cache", "past_key_values", "state", "cache_params")
# Config attributes that make the head more than a linear map of φ (soft-capping, scaling).
_HEAD_ATTRS = ("final_logit_softcapping", "output_logit_soft_cap", "logit_softcapping", "logit_scale",
               "logits_scaling", "output_multiplier", "logit_multiplier", "output_mult", "lm_head_multiplier",
               "mup_output_multiplier", "final_logit_soft_cap")
_TRIVIAL = (None, 0, 0.0, 1, 1.0, False)
_STATE_LAYER_WORDS = ("Linear", "Mamba", "Recurrent", "Conv", "State")


@dataclasses.dataclass(frozen=True)
class ModelFamily:
    """The shortcuts a model admits (candidates; each is verified numerically before use).

    Attributes
    ----------
    model_type, architecture : ``config.model_type`` and the model class name.
    cache_kwarg : the forward argument that takes a cache (``"past_key_values"``, ``"cache"``,
        ``"state"`` …), or None when the model takes none.
    cache_kind : one of :data:`CACHE_KINDS`.
    cache_layers : class names of the layers of an empty cache built from the config.
    sliding_window : the smallest sliding / chunked attention window, or None.
    alibi : attention biases computed from an attention mask (ALiBi): a prefix-tree mask cannot
        stand in for per-future copies.
    takes_positions : the forward accepts ``position_ids`` (needed by the packed path).
    takes_logits_to_keep : the forward accepts ``logits_to_keep``.
    head_reason : why the head is not the plain linear identity (``""`` when it may be; the engine
        still checks it numerically).
    weight_types : parameter name → the weights lens's matrix type (``query``, ``gate``, ``ssm_in``,
        fused ``qkv`` …; the rules and fused layouts live in :mod:`logitrank.real_models._weight_types`).
    """

    model_type: str
    architecture: str
    cache_kwarg: str | None
    cache_kind: str
    cache_layers: tuple[str, ...]
    sliding_window: int | None
    alibi: bool
    takes_positions: bool
    takes_logits_to_keep: bool
    head_reason: str
    weight_types: dict = dataclasses.field(default_factory=dict, repr=False, compare=False)

    @property
    def multi_token_extension(self) -> bool:
        """Whether a cache may be extended by several tokens in one forward (keys/values; a
        recurrent state is advanced one token at a time)."""
        return self.cache_kind in ("kv", "sliding_kv")

    def engine_paths(self, longest: int | None = None) -> tuple[str, ...]:
        """Candidate engine paths, fastest first, for requests of at most ``longest`` tokens.

        ``packed``: one row per history with a prefix-tree mask (full causal attention, explicit
        positions, no ALiBi; a sliding window only when ``longest`` fits inside it);
        ``repeat``: the history cache copied per future, futures run in one forward;
        ``step``: the same copies advanced one token per forward (recurrent states);
        ``naive``: every history ∘ future run in full (always exact).
        """
        paths = []
        window_ok = self.sliding_window is None or (longest is not None and longest <= self.sliding_window)
        if self.cache_kind in ("kv", "sliding_kv") and self.takes_positions and not self.alibi and window_ok:
            paths.append("packed")
        if self.cache_kind in ("kv", "sliding_kv"):
            paths.append("repeat")
        if self.cache_kind in ("kv", "sliding_kv", "state", "hybrid"):
            paths.append("step")
        paths.append("naive")
        return tuple(paths)


def find_decoder(model):
    """The body whose ``last_hidden_state`` the LM head multiplies (``get_decoder()``, else the
    base model), or None when the model has none that runs alone."""
    try:
        dec = model.get_decoder()
    except (AttributeError, NotImplementedError, ValueError):   # no get_decoder: its base model
        dec = getattr(model, getattr(model, "base_model_prefix", "model") or "model", None)
    return dec if isinstance(dec, torch.nn.Module) and dec is not model else None


def cache_kwarg(module) -> str | None:
    """The name under which ``module.forward`` takes a cache, or None."""
    params = inspect.signature(module.forward).parameters
    return next((k for k in _CACHE_KWARGS if k in params), None)


def output_cache(out):
    """The cache a forward returned (whatever the family calls it), or None."""
    for name in _CACHE_KWARGS:
        # a ModelOutput is a dict of the fields that were set; reading it as one avoids the
        # deprecated ``past_key_values`` alias (and its log message) of outputs that carry ``cache``
        c = out.get(name) if hasattr(out, "get") else getattr(out, name, None)
        if c is not None:
            return c
    return None


def _walk_tensors(obj, seen: set, found: list) -> None:
    if isinstance(obj, torch.Tensor):
        if id(obj) not in seen:
            seen.add(id(obj))
            found.append(obj)
        return
    if id(obj) in seen or isinstance(obj, (str, bytes, int, float, bool, type(None), torch.nn.Module)):
        return
    seen.add(id(obj))
    if isinstance(obj, dict):
        for v in obj.values():
            _walk_tensors(v, seen, found)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            _walk_tensors(v, seen, found)
    elif hasattr(obj, "__dict__") and not isinstance(obj, type):
        for v in vars(obj).values():
            _walk_tensors(v, seen, found)


def _tensors(cache) -> list[torch.Tensor]:
    found: list[torch.Tensor] = []
    _walk_tensors(cache, set(), found)
    return found


def cache_nbytes(cache) -> int:
    """Bytes held by the tensors of a cache (any family: keys/values, states)."""
    return int(sum(t.numel() * t.element_size() for t in _tensors(cache)))


def select_cache_rows(cache, rows: torch.Tensor, batch: int):
    """A new cache whose row ``i`` is row ``rows[i]`` of ``cache`` (which holds ``batch`` rows).

    Every tensor of the cache whose first dimension is the batch is indexed (so selecting and
    repeating rows is one copy of just the rows needed); everything else is deep-copied, so
    running a forward on the result never changes ``cache``. Works for key/value,
    sliding-window and linear-attention cache layers and for plain lists of state tensors.
    """
    rows = rows.to(dtype=torch.long)
    memo = {}
    for t in _tensors(cache):
        if t.dim() >= 1 and t.shape[0] == batch:
            memo[id(t)] = t.index_select(0, rows.to(t.device))
    return copy.deepcopy(cache, memo)


def _text_config(config):
    return config.get_text_config() if hasattr(config, "get_text_config") else config


def _head_reason(model) -> str:
    out = model.get_output_embeddings()
    if out is None:
        return "no LM head"
    if getattr(out, "bias", None) is not None:
        return "the LM head has a bias"
    if not isinstance(out, torch.nn.Linear) and type(out).__name__ not in ("Linear",):
        return f"the LM head is a {type(out).__name__}, not a plain linear map"
    cfgs = {id(c): c for c in (model.config, _text_config(model.config))}.values()
    for cfg in cfgs:
        for attr in _HEAD_ATTRS:
            val = getattr(cfg, attr, None)
            if val not in _TRIVIAL and not isinstance(val, (dict, list)):
                return f"config.{attr} = {val} (soft-capped or scaled logits)"
    return ""


def _empty_cache_layers(config) -> tuple[str, ...]:
    try:
        from transformers import DynamicCache
        cache = DynamicCache(config=config)
    except Exception:  # a config DynamicCache cannot read: the family keeps its own cache
        return ()
    return tuple(type(layer).__name__ for layer in getattr(cache, "layers", []))


def _sliding_window(config) -> int | None:
    cfg = _text_config(config)
    wins = []
    types = getattr(cfg, "layer_types", None) or ()
    has_sliding_layer = any(isinstance(t, str) and ("sliding" in t or "chunk" in t or "local" in t) for t in types)
    for attr in ("sliding_window", "attention_chunk_size", "attention_window", "local_window_size", "window_size"):
        val = getattr(cfg, attr, None)
        if isinstance(val, int) and val > 0:
            if not types or has_sliding_layer or attr != "sliding_window" or getattr(cfg, "use_sliding_window", True):
                wins.append(int(val))
        elif isinstance(val, (list, tuple)) and val and all(isinstance(v, int) for v in val):
            wins.append(int(min(val)))
    return min(wins) if wins else None


def describe_family(model) -> ModelFamily:
    """The :class:`ModelFamily` of a transformers causal LM (reads its config and classes only)."""
    cfg = _text_config(model.config)
    kwarg = cache_kwarg(model)
    layers = _empty_cache_layers(model.config) if kwarg is not None else ()
    window = _sliding_window(model.config)
    params = inspect.signature(model.forward).parameters
    stateful = [name for name in layers if any(w in name for w in _STATE_LAYER_WORDS)]
    attention = [name for name in layers if name not in stateful]
    sliding = any("Sliding" in name or "Chunked" in name for name in layers)
    if kwarg is None:
        kind = "opaque"
    elif kwarg == "state" or (layers and not attention):
        kind = "state"
    elif stateful:
        kind = "hybrid"
    elif not layers:
        kind = "opaque"
    else:
        kind = "sliding_kv" if (sliding or window is not None) else "kv"
    # A linear-attention layer that also holds keys/values is stateful: hybrid, one token a step.
    if kind in ("kv", "sliding_kv") and any(n.startswith("LinearAttention") for n in layers):
        kind = "hybrid"
    alibi = bool(getattr(cfg, "alibi", False) or getattr(cfg, "use_alibi", False)
                 or getattr(getattr(cfg, "attn_config", None), "alibi", False)
                 or cfg.model_type in ("bloom", "mpt", "jais"))
    return ModelFamily(
        model_type=str(getattr(cfg, "model_type", getattr(model.config, "model_type", "?"))),
        architecture=type(model).__name__, cache_kwarg=kwarg, cache_kind=kind, cache_layers=tuple(layers),
        sliding_window=window, alibi=alibi, takes_positions="position_ids" in params,
        takes_logits_to_keep="logits_to_keep" in params, head_reason=_head_reason(model),
        weight_types=_weight_types_or_empty(model))


def _weight_types_or_empty(model) -> dict:
    # A layout the weights lens refuses (it says why when asked for the matrices) must not stop
    # the logits lens from using the model.
    try:
        return weight_type_map(model)
    except (InvalidInputError, ValueError, RuntimeError):
        return {}


def model_logits(model, family: ModelFamily, ids: torch.Tensor, *, keep=None, cache=None, **kw):
    """``model(ids, …)`` → (logits, returned cache); ``keep``: positions whose logits are needed.

    ``keep`` is an int (the last ``keep`` positions) or a 1-D tensor of positions; families whose
    forward has no ``logits_to_keep`` compute every position and are sliced here, so the result
    is the same either way.
    """
    if cache is not None:
        kw[family.cache_kwarg] = cache
    if keep is not None and family.takes_logits_to_keep:
        out = model(input_ids=ids, logits_to_keep=keep, **kw)
        return out.logits, output_cache(out)
    out = model(input_ids=ids, **kw)
    logits = out.logits
    if keep is not None:
        logits = logits[:, -keep:] if isinstance(keep, int) else logits[:, keep]
    return logits, output_cache(out)


def agreement_tolerance(dtype, scale: float) -> float:
    """Largest max-abs difference a shortcut may have from the plain forward it stands in for:
    1e-4 × ``scale`` in float32/float64, 3e-2 × ``scale`` in half precision (``scale``: the
    reference's max |value| + 1). One bound for every numerical check of the fast paths."""
    return (1e-4 if dtype in (torch.float32, torch.float64) else 3e-2) * float(scale)


_STEP_CHECK_ATTR = "_logitrank_cached_step_exact"


@torch.no_grad()
def cached_step_is_exact(lm) -> bool:
    """Whether the model's own cache, copied row by row and advanced one token per forward,
    reproduces the full forward's logits (checked once per model object, on 2 × 12 tokens).

    Sampling, the adapter's key/value reuse and LINGEN decoding extend a kept cache one token at
    a time; where this does not hold (a family whose cache is not what its forward needs to
    continue) they run full forwards instead.
    """
    hit = lm.__dict__.get(_STEP_CHECK_ATTR)
    if hit is not None:
        return hit
    fam = lm.family
    ok = False
    if fam.cache_kwarg is not None and fam.cache_kind != "opaque":
        try:
            gen = np.random.default_rng(0)
            body = gen.integers(0, lm.vocab_size, size=(2, 12))
            head = np.asarray(lm.prefix_tokens, dtype=np.int64).reshape(1, -1).repeat(2, 0)
            ids = torch.as_tensor(np.concatenate([head, body], axis=1), device=lm.device)
            full, _ = model_logits(lm.model, fam, ids)
            split = ids.shape[1] - 4
            logits, cache = model_logits(lm.model, fam, ids[:, :split], keep=1, use_cache=True)
            errs = [float((logits[:, -1] - full[:, split - 1]).abs().max())]
            # rows swapped: the copy must carry each row's own state
            cache = select_cache_rows(cache, torch.tensor([1, 0]), 2)
            for t in range(split, ids.shape[1]):
                logits, cache = model_logits(lm.model, fam, ids[[1, 0], t:t + 1], keep=1, cache=cache,
                                             use_cache=True)
                errs.append(float((logits[:, -1] - full[[1, 0], t]).abs().max()))
            tol = agreement_tolerance(lm.dtype, float(full.abs().max()) + 1.0)
            ok = cache is not None and max(errs) <= tol
        except Exception:  # any failure of the cached path: use full forwards
            ok = False
    lm.__dict__[_STEP_CHECK_ATTR] = ok
    return ok
