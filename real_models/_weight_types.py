"""Which weight matrix of a transformers model plays which role: the name → type tables.

The weights lens groups a model's matrices by *type* (Staats, Thamm & Rosenow 2024, Sec. 3:
``query``, ``key``, ``value``, ``attention_output``, ``gate``, ``up``, ``down`` …). Every
decoder family names them differently, and several store two or three of them in one fused
parameter. This module holds that knowledge in one place, for
:func:`~logitrank.real_models.weights.extract_weight_matrices`:

* :data:`RULES` — ordered ``(regex on the parameter name, type)`` pairs; the first match
  wins. Names are matched with the block index replaced by ``N`` (``model.layers.N.…``).
* :data:`SPLITTERS` — fused parameters split into their parts, each with the layout it
  assumes (read from the modeling file of the family named in the entry):

  - GPT-2 / OpenAI-GPT ``c_attn`` (``Conv1D``, stored in × out): ``[q; k; v]`` thirds.
  - GPT-BigCode ``c_attn``: multi-query ``[q (hidden); k (head_dim); v (head_dim)]``;
    without multi-query, ``(heads, 3, head_dim)`` interleaved per head.
  - GPT-NeoX / Bloom / Persimmon / Fuyu ``query_key_value``: ``(heads, 3, head_dim)``
    interleaved per head.
  - Falcon ``query_key_value``: ``new_decoder_architecture`` → per kv group
    ``[q × heads/kv_heads, k, v]``; ``multi_query`` → ``[q (heads); k (1); v (1)]`` heads;
    otherwise interleaved per head like NeoX.
  - Phi-3 / Phi-4-multimodal / Ergo ``qkv_proj``: ``[q (heads·hd); k (kv·hd); v (kv·hd)]``.
  - MPT ``Wqkv``: ``[q; k; v]`` thirds; DBRX ``Wqkv``: ``[q (hidden); k (kv·hd); v (kv·hd)]``.
  - ``gate_up_proj`` of Phi-3 / GLM / GLM-4 / Phi-4-multimodal MLPs: ``[gate; up]`` halves.
  - Mixture-of-experts weights stored as one 3-D parameter (``experts.gate_up_proj``,
    ``experts.down_proj`` …): one matrix per expert. The storage order (``(E, out, in)`` for
    ``F.linear`` experts, ``(E, in, out)`` for ``bmm`` experts such as Llama-4's) and the
    gate/up layout (halves, or interleaved even/odd rows for GPT-OSS) are read from the
    experts module's forward source; when neither is recognised the matrix keeps the fused
    type ``gate_up``.
  - DBRX experts ``w1`` / ``v1`` / ``w2`` (``(E·I, H)``): gate / up / down per expert
    (``w2`` is applied as ``x @ w2``, so its transpose is the down matrix).

  A fused parameter whose family is not listed keeps a fused type (``qkv``, ``gate_up``) —
  the lens never guesses a split.
* State-space and recurrent layers have types of their own: Mamba ``in_proj`` → ``ssm_in``,
  ``x_proj`` → ``ssm_x``, ``dt_proj`` → ``ssm_dt``, ``out_proj`` → ``ssm_out``, ``A_log`` →
  ``ssm_a``, its short convolution → ``conv``; RWKV time-mix and channel-mix
  key / value / receptance / output → ``time_mix_*`` / ``channel_mix_*``.

:func:`weight_type_map` gives parameter name → type (a split parameter maps to its fused
type); :func:`matrix_pieces` gives the matrices themselves, ``(out_features, in_features)``.
A parameter is a matrix when it has at least two dimensions larger than 1; higher-rank
kernels (convolutions, 3-D experts without a known layout) are reshaped to ``(out, -1)``.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import re

import torch

__all__ = ["MATRIX_TYPES", "RULES", "SPLITTERS", "Piece", "is_matrix", "matrix_pieces",
           "weight_type_map"]

#: Matrix types in report order.
MATRIX_TYPES = ("query", "key", "value", "attention_output", "qkv",
                "query_a", "query_b", "kv_a", "kv_b", "attention_gate", "indexer",
                "gate", "up", "down", "gate_up", "router",
                "ssm_in", "ssm_x", "ssm_dt", "ssm_a", "ssm_gate", "ssm_out", "conv",
                "time_mix_key", "time_mix_value", "time_mix_receptance", "time_mix_output",
                "channel_mix_key", "channel_mix_value", "channel_mix_receptance",
                "pooler", "head_transform", "bias", "embedding", "other")

_SSM = r"(?:mamba|mixer)"
_LIN = r"(?:linear_attn)"

#: ``(regex searched in the parameter name with block indices as N, type)``, first match wins.
RULES: tuple[tuple[str, str], ...] = (
    # --- RWKV
    (r"rwkv\.blocks\.N\.attention\.key\.weight$", "time_mix_key"),
    (r"rwkv\.blocks\.N\.attention\.value\.weight$", "time_mix_value"),
    (r"rwkv\.blocks\.N\.attention\.receptance\.weight$", "time_mix_receptance"),
    (r"rwkv\.blocks\.N\.attention\.output\.weight$", "time_mix_output"),
    (r"rwkv\.blocks\.N\.feed_forward\.key\.weight$", "channel_mix_key"),
    (r"rwkv\.blocks\.N\.feed_forward\.value\.weight$", "channel_mix_value"),
    (r"rwkv\.blocks\.N\.feed_forward\.receptance\.weight$", "channel_mix_receptance"),
    # --- embeddings and heads
    (r"^(?:output|head)\.weight$", "embedding"),
    (r"(?:predictions\.transform|lm_head|generator_predictions|predictions)\.dense\.weight$",
     "head_transform"),
    (r"_bias$|\.r_[rsw]_bias$", "bias"),
    # --- RG-LRU (RecurrentGemma): input branch, gate branch, output; per-head gate blocks
    (r"temporal_block\.linear_x\.weight$", "ssm_in"),
    (r"temporal_block\.linear_y\.weight$", "ssm_gate"),
    (r"temporal_block\.linear_out\.weight$", "ssm_out"),
    (r"rg_lru\.(?:input|recurrent)_gate_weight$", "ssm_gate"),
    (r"(?:^|\.)(?:lm_head|embed_out|generator_lm_head)\.(?:decoder\.)?weight$", "embedding"),
    (r"(?:^|\.)(?:lm_head|predictions)\.decoder\.weight$", "embedding"),
    (r"(?:embed_tokens|embed_tokens_per_layer|word_embeddings?|position_embeddings?|"
     r"token_type_embeddings|embed_positions|tokens_embed|positions_embed|tok_embeddings|"
     r"\bwte|\bwpe|embed_in|embeddings|ngram_embeddings|segment_embedding|input_embedding|"
     r"encoder_hash_tok_embedding|pronunciation_embed|shape_embed|transformer\.w)\.weight$", "embedding"),
    (r"position_embeddings\.weights\.N$", "embedding"),
    # --- state-space mixers (Mamba 1/2, hybrids), linear attention, short convolutions
    (_SSM + r"\.in_proj\.weight$", "ssm_in"),
    (_SSM + r"\.x_proj(?:\.weight|_weight)$", "ssm_x"),
    (_SSM + r"\.dt_proj(?:\.weight|_weight)$", "ssm_dt"),
    (_SSM + r"\.A_log$", "ssm_a"),
    (_SSM + r"\.out_proj\.weight$", "ssm_out"),
    (r"conv(?:_?1d)?(?:\.conv)?\.weight$", "conv"),
    (r"\.conv\.(?:in_proj)\.weight$", "ssm_in"),
    (r"\.conv\.(?:out_proj)\.weight$", "ssm_out"),
    (_LIN + r"\.in_proj_qkvz?\.weight$", "qkv"),
    (_LIN + r"\.out_proj\.weight$", "attention_output"),
    (_LIN + r"\.in_proj_(?:z|a|b|ba)\.weight$", "attention_gate"),
    (r"(?:^|\.)(?:g_proj|g_a_proj|g_b_proj|output_gate|b_proj|a_proj|f_proj|f_a_proj|f_b_proj)\.weight$",
     "attention_gate"),
    (r"\.indexer\.", "indexer"),
    # --- multi-head latent attention (DeepSeek-V2/V3 style)
    (r"\.q_a_proj\.weight$", "query_a"),
    (r"\.q_b_proj\.weight$", "query_b"),
    (r"\.kv_a_proj_with_mqa\.weight$", "kv_a"),
    (r"\.kv_b_proj\.weight$", "kv_b"),
    # --- attention projections
    (r"(?:^|\.)(?:q_proj|query|query_proj|q_lin|project_q|Wq|wq|q)(?:\.linear)?\.weight$", "query"),
    (r"(?:^|\.)(?:k_proj|key|key_proj|k_lin|project_k|Wk|wk|k)(?:\.linear)?\.weight$", "key"),
    (r"(?:^|\.)(?:v_proj|value|value_proj|v_lin|project_v|Wv|wv|v)(?:\.linear)?\.weight$", "value"),
    (r"(?:rel_attn)\.q$", "query"), (r"(?:rel_attn)\.k$", "key"), (r"(?:rel_attn)\.v$", "value"),
    (r"(?:rel_attn)\.o$", "attention_output"),
    (r"(?:^|\.)(?:o_proj|out_proj|attention\.output\.dense|attn\.c_proj|attention\.dense|"
     r"self_attention\.dense|self_attn\.dense|out_lin|attention_out|multi_head_attention\.dense|"
     r"attn\.Wo|attn\.out_proj|attn\.proj)(?:\.linear)?\.weight$", "attention_output"),
    (r"(?:^|\.)(?:qkv_proj|query_key_value|c_attn|Wqkv|attn\.qkv|in_proj_weight)(?:\.weight)?$", "qkv"),
    # --- routers of mixtures of experts
    (r"(?:^|\.)(?:router|gate|wg)(?:\.layer|\.linear|\.classifier|\.gate|\.wg)?\.weight$", "router"),
    # --- feed-forward
    (r"(?:^|\.)(?:gate_proj|w1|w_0|proj_up_gate|fc_gate)\.weight$", "gate"),
    (r"(?:^|\.)(?:up_proj|w3|w_1|proj_up|c_fc|fc1|fc_in|dense_h_to_4h|intermediate\.dense|lin1|"
     r"mlp\.Wi|intermediate|layer_1|input_linear)\.weight$", "up"),
    (r"(?:^|\.)(?:down_proj|w2|w_out|proj_down|mlp\.c_proj|fc2|fc_out|dense_4h_to_h|"
     r"(?<!attention\.)output\.dense|lin2|mlp\.Wo|feed_forward\.output|layer_2|output_linear)\.weight$",
     "down"),
    (r"gate_up_proj(?:\.weight)?$", "gate_up"),
    (r"(?:^|\.)down_proj$", "down"), (r"(?:^|\.)up_proj$", "up"), (r"(?:^|\.)gate_proj$", "gate"),
    (r"pooler(?:\.dense)?\.weight$", "pooler"),
)
_COMPILED = tuple((re.compile(p), t) for p, t in RULES)
_FUSED = {"qkv": ("query", "key", "value"), "gate_up": ("gate", "up")}


def _normalise(name: str) -> str:
    return re.sub(r"\.\d+(?=\.|$)", ".N", name)


def rule_type(name: str) -> str | None:
    """The type :data:`RULES` gives parameter ``name`` (None when no rule matches)."""
    norm = _normalise(name)
    for pattern, kind in _COMPILED:
        if pattern.search(norm):
            return kind
    return None


@dataclasses.dataclass(frozen=True)
class Piece:
    """One matrix of a parameter: ``weight`` is ``(out, in)`` (a view where possible)."""

    param_name: str
    module_name: str
    label: str           # "" for the whole parameter, else "[query]", "[expert 3 gate]" …
    matrix_type: str
    weight: torch.Tensor


def is_matrix(param: torch.Tensor) -> bool:
    """At least two dimensions larger than 1 (a (1, 1, H) mixing vector is not a matrix)."""
    return sum(int(s > 1) for s in param.shape) >= 2


def _cfg(model, module=None):
    cfg = getattr(module, "config", None) or getattr(model, "config", None)
    if cfg is not None and hasattr(cfg, "get_text_config"):
        try:
            cfg = cfg.get_text_config()
        except Exception:      # several candidate text configs: keep the top-level one
            pass
    return cfg


def _get(cfg, *names, default=None):
    for n in names:
        try:
            v = getattr(cfg, n, None)
        except Exception:      # per-layer attribute refused globally
            v = None
        if v is not None:
            return v
    return default


def _heads(model, module):
    cfg = _cfg(model, module)
    heads = _get(module, "num_heads", "num_attention_heads") or _get(cfg, "num_attention_heads", "n_head",
                                                                      "n_heads")
    kv = _get(module, "num_key_value_heads", "num_kv_heads") or _get(cfg, "num_key_value_heads",
                                                                     "num_kv_heads", default=heads)
    return int(heads), int(kv), cfg


# --- splitters: (mat (out, in), module, model) -> list of (type, tensor) or None -------------

def _thirds(mat, module, model):
    q, k, v = mat.chunk(3, dim=0)
    return [("query", q), ("key", k), ("value", v)]


def _sizes(mat, q_rows, kv_rows):
    if q_rows + 2 * kv_rows != mat.shape[0]:
        return None
    q, k, v = mat.split([q_rows, kv_rows, kv_rows], dim=0)
    return [("query", q), ("key", k), ("value", v)]


def _per_head(mat, heads):
    if mat.shape[0] % (3 * heads):
        return None
    split = mat.reshape(heads, 3, mat.shape[0] // (3 * heads), mat.shape[1])
    return [(kind, split[:, i].reshape(-1, mat.shape[1])) for i, kind in enumerate(("query", "key", "value"))]


def _neox(mat, module, model):
    heads, _, _ = _heads(model, module)
    return _per_head(mat, heads)


def _falcon(mat, module, model):
    heads, kv, cfg = _heads(model, module)
    hd = mat.shape[1] // heads
    if _get(cfg, "new_decoder_architecture"):
        g = mat.reshape(kv, heads // kv + 2, hd, mat.shape[1])
        return [("query", g[:, :-2].reshape(-1, mat.shape[1])), ("key", g[:, -2].reshape(-1, mat.shape[1])),
                ("value", g[:, -1].reshape(-1, mat.shape[1]))]
    if _get(cfg, "multi_query"):
        return _sizes(mat, heads * hd, hd)
    return _per_head(mat, heads)


def _bigcode(mat, module, model):
    heads, _, cfg = _heads(model, module)
    hd = mat.shape[1] // heads
    if _get(cfg, "multi_query", default=True):
        return _sizes(mat, heads * hd, hd)
    return _per_head(mat, heads)


def _gqa(mat, module, model):
    heads, kv, cfg = _heads(model, module)
    hd = int(_get(module, "head_dim") or _get(cfg, "head_dim") or mat.shape[1] // heads)
    return _sizes(mat, heads * hd, kv * hd)


def _dbrx(mat, module, model):
    cfg = _cfg(model, module)
    heads = int(_get(cfg, "n_heads"))
    kv = int(_get(getattr(cfg, "attn_config", None), "kv_n_heads", default=heads))
    hd = mat.shape[1] // heads
    return _sizes(mat, heads * hd, kv * hd)


def _halves(mat, module, model):
    if mat.shape[0] % 2:
        return None
    g, u = mat.chunk(2, dim=0)
    return [("gate", g), ("up", u)]


#: (module class name, parameter leaf) -> splitter; see the module docstring for each layout.
SPLITTERS: dict[tuple[str, str], object] = {
    ("GPT2Attention", "c_attn"): _thirds,                # GPT-2, GPT-SW3
    ("Attention", "c_attn"): _thirds,                    # OpenAI-GPT
    ("GPTBigCodeAttention", "c_attn"): _bigcode,
    ("GPTNeoXAttention", "query_key_value"): _neox,
    ("BloomAttention", "query_key_value"): _neox,
    ("PersimmonAttention", "query_key_value"): _neox,
    ("FalconAttention", "query_key_value"): _falcon,
    ("Phi3Attention", "qkv_proj"): _gqa,
    ("Phi4MultimodalAttention", "qkv_proj"): _gqa,
    ("ErgoAttention", "qkv_proj"): _gqa,
    ("MptAttention", "Wqkv"): _thirds,
    ("DbrxAttention", "Wqkv"): _dbrx,
    ("Phi3MLP", "gate_up_proj"): _halves,
    ("Phi4MultimodalMLP", "gate_up_proj"): _halves,
    ("GlmMLP", "gate_up_proj"): _halves,
    ("Glm4MLP", "gate_up_proj"): _halves,
}


@functools.cache
def _experts_layout(cls) -> tuple[bool, str | None]:
    """(stored in × out, gate/up layout) read from an experts module's forward source."""
    try:
        src = inspect.getsource(cls.forward)
    except (OSError, TypeError):
        return False, None
    transposed = ("linear(" not in src) and any(s in src for s in ("bmm(", "matmul(", " @ "))
    if "::2" in src:
        layout = "interleaved"
    elif re.search(r"chunk\(\s*2", src) or "split(" in src:
        layout = "halves"
    else:
        layout = None
    return transposed, layout


def _experts(param_name, module_name, module, leaf, p, kind):
    transposed, layout = _experts_layout(type(module))
    out = []
    for e in range(p.shape[0]):
        m = p[e].T if transposed else p[e]
        if kind == "gate_up" and layout is not None and m.shape[0] % 2 == 0:
            parts = ((m[0::2], m[1::2]) if layout == "interleaved" else m.chunk(2, dim=0))
            out += [Piece(param_name, module_name, f"[expert {e} {t}]", t, w)
                    for t, w in zip(("gate", "up"), parts)]
        else:
            out.append(Piece(param_name, module_name, f"[expert {e}]", kind, m))
    return out


def _dbrx_experts(param_name, module_name, module, leaf, p, model):
    cfg = _cfg(model)
    ffn = getattr(cfg, "ffn_config", None)
    e_n = int(_get(ffn, "moe_num_experts", default=1))
    kind = {"w1": "gate", "v1": "up", "w2": "down"}[leaf]
    v = p.view(e_n, -1, p.shape[1])
    return [Piece(param_name, module_name, f"[expert {e}]", kind, v[e].T if leaf == "w2" else v[e])
            for e in range(e_n)]


def _pieces_of(model, modules, module_name, module, leaf, param) -> list[Piece]:
    pname = f"{module_name}.{leaf}" if module_name else leaf
    kind = rule_type(pname)
    if isinstance(module, torch.nn.Embedding) or (kind is None and "Embedding" in type(module).__name__):
        kind = "embedding"
    cls = type(module).__name__
    if cls == "DbrxExpertGLU" and leaf in ("w1", "v1", "w2"):
        return _dbrx_experts(pname, module_name, module, leaf, param, model)
    if param.ndim == 3 and "xperts" in cls and kind in ("gate_up", "up", "down", "gate"):
        return _experts(pname, module_name, module, leaf, param, kind)
    if param.ndim == 3 and cls == "JetMoeParallelExperts":
        return _experts(pname, module_name, module, leaf, param,
                        "gate_up" if "input" in module_name else "down")
    if param.ndim > 2:
        mat = param.reshape(param.shape[0], -1)
        if min(mat.shape) < 2:                 # e.g. (1, C, K) kernels
            mat = param.reshape(-1, param.shape[-1])
    else:
        mat = param.T if cls == "Conv1D" else param    # GPT-2's Conv1D stores (in, out)
    # the splitter is looked up by (owner class, attribute): the attention / MLP module and the
    # name of its fused Linear, or the module and the name of its own fused parameter
    if leaf == "weight" and "." in module_name:
        parent, attr = module_name.rsplit(".", 1)
        owner = modules.get(parent)
    else:
        owner, attr = module, leaf
    split = SPLITTERS.get((type(owner).__name__, attr)) or SPLITTERS.get((cls, attr))
    if split is not None:
        parts = split(mat, owner, model)
        if parts:
            return [Piece(pname, module_name, f"[{t}]", t, w) for t, w in parts]
    return [Piece(pname, module_name, "", kind or "other", mat)]


def matrix_pieces(model: torch.nn.Module) -> list[Piece]:
    """Every matrix of ``model`` (tied parameters once), typed and split as documented above."""
    out: list[Piece] = []
    seen: set[int] = set()
    modules = dict(model.named_modules())
    for module_name, module in modules.items():
        for leaf, param in module.named_parameters(recurse=False):
            if id(param) in seen or not is_matrix(param):
                continue
            seen.add(id(param))
            out += _pieces_of(model, modules, module_name, module, leaf, param.detach())
    return out


def weight_type_map(model: torch.nn.Module) -> dict[str, str]:
    """Parameter name → type for every matrix parameter of ``model`` (tied ones once).

    A parameter that :func:`matrix_pieces` splits maps to its fused type: ``qkv`` for query /
    key / value parts, ``gate_up`` for gate / up parts; a 3-D experts parameter maps to its
    per-expert type.
    """
    kinds: dict[str, set] = {}
    for piece in matrix_pieces(model):
        kinds.setdefault(piece.param_name, set()).add(piece.matrix_type)
    res = {}
    for name, ks in kinds.items():
        if len(ks) == 1:
            res[name] = next(iter(ks))
        elif ks <= {"query", "key", "value"}:
            res[name] = "qkv"
        elif ks <= {"gate", "up"}:
            res[name] = "gate_up"
        else:
            res[name] = "+".join(sorted(ks))
    return res
