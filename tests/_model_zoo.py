"""Tiny random-init causal LMs of every model type transformers ships, built offline.

"Model-agnostic" is the project's claim: every decoder family transformers ships (full,
sliding-window, chunked or ALiBi attention, soft-capped or scaled heads, recurrent and
state-space layers, hybrids) must give the same numbers through the fast paths as through a
plain forward, and the weights lens must label every family's matrices. The tests check it
on the models this module builds: one per entry of transformers'
``MODEL_FOR_CAUSAL_LM_MAPPING_NAMES``, each a few ten thousand parameters, built from its
config class alone (no hub, no files) in well under a second.

* :data:`FAMILIES` — every model type of that mapping, sorted, read from the installed
  transformers (a new release adds its new families here by itself).
* :data:`UNBUILDABLE` — the model types that cannot be built tiny offline or cannot run a
  plain text-only causal forward, each with the reason.
* :func:`build_tiny` — the model (eval mode, float32); :func:`tiny_lm` — it wrapped as an
  :class:`~logitrank.real_models.adapter.HFCausalLM`.

Every config gets the same small sizes (:data:`BASE`), given only to the fields its config
class declares, plus per-family corrections (:data:`OVERRIDES`). Per-layer lists
(``layer_types``, block patterns, dense/sparse MLP lists) are cut to the model's few layers
keeping one layer of every kind, so hybrids contain both kinds; every sliding or chunked
attention window is set to 8 tokens, so 20-token test inputs cross it. The ≥2-D weights are
scaled up from the init (×8, or the largest of 8, 4, 2, 1 that keeps the logits finite and
below 50 in magnitude) so that logits are not all ≈ 0. LM-head soft-caps are set to 5 and
logit scales away from 1 (:data:`_HEAD_EXTRAS`) where the family has them, so they matter.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import logging
import warnings

import torch

__all__ = ["BASE", "FAMILIES", "OVERRIDES", "UNBUILDABLE", "UnbuildableFamily", "build_tiny",
           "tiny_config", "tiny_lm"]


def _families() -> tuple[str, ...]:
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES
    return tuple(sorted(MODEL_FOR_CAUSAL_LM_MAPPING_NAMES))


FAMILIES: tuple[str, ...] = _families()


class UnbuildableFamily(Exception):
    """This model type cannot be built tiny offline or cannot run a text-only causal forward."""


#: model type -> why it is not built (hand-written; checked by the tests to still raise).
UNBUILDABLE: dict[str, str] = {
    "gemma3n": "its vision tower is a TimmWrapperModel: needs the timm package (not installed)",
    "musicgen": "the causal LM is an audio-codebook decoder: input_ids are (batch × num_codebooks, "
                "seq) codebook streams and the logits are per codebook, not a text LM",
    "musicgen_melody": "the causal LM is an audio-codebook decoder: input_ids are (batch × "
                       "num_codebooks, seq) codebook streams, not a text LM",
    "gemma4_assistant": "a draft model for speculative decoding: its forward needs the target "
                        "model's shared_kv_states (and rejects hidden_size_per_layer_input != 0)",
    "gemma4_unified_assistant": "a draft model for speculative decoding: its forward raises "
                                "'inputs_embeds and shared_kv_states cannot be None'",
}

#: Sizes every tiny config gets, for the fields its config class declares.
BASE: dict = dict(
    vocab_size=96, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
    num_attention_heads=4, num_key_value_heads=2, head_dim=8, max_position_embeddings=128,
    bos_token_id=0, eos_token_id=1, pad_token_id=1,
    # GPT-2 / GPT-J style names
    n_positions=128, n_ctx=128, n_embd=32, n_layer=2, n_head=4, n_inner=64, rotary_dim=4,
    # other naming schemes
    d_model=32, n_layers=2, n_heads=4, num_layers=2, num_heads=4, embed_dim=32, embedding_dim=32,
    ffn_dim=64, d_ff=64, ffn_hidden_size=64, num_blocks=2, dim=32, d_inner=64,
    decoder_layers=2, decoder_attention_heads=4, decoder_ffn_dim=64, encoder_layers=2,
    encoder_attention_heads=4, encoder_ffn_dim=64, num_decoder_layers=2, num_encoder_layers=2,
    # MoE
    num_experts=4, num_local_experts=4, n_routed_experts=4, moe_intermediate_size=32,
    num_experts_per_tok=2, num_experts_per_token=2, shared_expert_intermediate_size=32,
    n_shared_experts=1, num_shared_experts=1, n_group=1, topk_group=1, num_expert_group=1,
    expert_ffn_hidden_size=32, moe_num_experts=4, moe_k=2, moe_topk=2, first_k_dense_replace=1,
    # MLA
    kv_lora_rank=16, q_lora_rank=16, qk_rope_head_dim=4, qk_nope_head_dim=8, v_head_dim=8,
    # state-space / recurrent
    state_size=8, expand=2, conv_kernel=4, time_step_rank=4, n_groups=1,
    mamba_n_heads=4, mamba_d_head=16, mamba_d_state=8, mamba_dt_rank=4, mamba_n_groups=1,
    mamba_chunk_size=8, chunk_size=8, attention_hidden_size=32, rnn_hidden_size=32,
    lru_width=32, linear_num_key_heads=2, linear_num_value_heads=2, linear_key_head_dim=8,
    linear_value_head_dim=8,
    # windows
    sliding_window=8, attention_window_size=8, attention_chunk_size=8, window_size=8,
    sliding_window_size=8,
)

#: Extra sizes for nested configs (vision / audio towers of multimodal wrappers).
_SUB_BASE: dict = dict(image_size=32, patch_size=8, num_channels=3, projection_dim=32,
                       output_channels=32, mlp_dim=64, vision_feature_layer=-1)

_DOTS3 = dict(head_dim=12, index_head_dim=8, index_n_heads=2, swa_num_attention_heads=4,
              swa_num_key_value_heads=4, swa_q_lora_rank=16, swa_kv_lora_rank=16, swa_head_dim=12,
              swa_qk_nope_head_dim=8, swa_v_head_dim=8)
_GEMMA4 = dict(global_head_dim=8, num_global_key_value_heads=2, hidden_size_per_layer_input=8,
               vocab_size_per_layer_input=96)
_QWEN4 = dict(indexer_n_heads=2, indexer_kv_heads=1, indexer_head_dim=8, indexer_budget=8,
              indexer_compress_ratio=2)

#: Per-family corrections to BASE (applied last; ``None`` removes a BASE entry).
OVERRIDES: dict[str, dict] = {
    "bamba": dict(attn_layer_indices=[1]),
    "blt": dict(encoder_hash_byte_group_vocab=64, encoder_hash_byte_group_size=[3, 4],
                local_attention_window_len=8,
                # with a cache its forward builds DynamicCache(config=BltConfig), which fails
                # (the config has no num_hidden_layers): a plain forward needs use_cache=False
                use_cache=False, encoder_config=dict(hidden_size_global=32),
                decoder_config=dict(hidden_size_global=32)),
    "cohere_compass_text": dict(layer_types=["sliding_attention", "full_attention"],
                                rope_parameters={t: dict(rope_type="default", rope_theta=1e4)
                                                 for t in ("sliding_attention", "full_attention")}),
    "cpmant": dict(dim_head=8, dim_ff=64, position_bias_num_buckets=32,
                   position_bias_max_distance=128, prompt_length=4, prompt_types=4,
                   segment_types=4),
    "dbrx": dict(attn_config=dict(kv_n_heads=2, rope_theta=1e4, clip_qkv=8.0), ffn_config=dict(ffn_hidden_size=64,
                 hidden_size=32, moe_num_experts=4, moe_top_k=2)),
    "dory": dict(num_hidden_layers=4, n_input_layers=1, n_recurrent_layers=2, n_output_layers=1,
                 layer_types=["sliding_attention", "full_attention"] * 2),
    "dots3_note": dict(vision_config=dict(adapter_in_dim=32, adapter_out_dim=32),
                       audio_config=dict(adapter_input_size=32, adapter_out_dim=32)),
    "dots3_note_text": _DOTS3,
    "ergo": dict(first_dense_intermediate_size=64, shared_intermediate_size=32),
    "falcon_h1": dict(mamba_d_ssm=64, mamba_n_heads=4, mamba_d_head=16),
    "gemma3n_text": dict(num_hidden_layers=4, num_kv_shared_layers=2, vocab_size_per_layer_input=96,
                         hidden_size_per_layer_input=8,
                         layer_types=["sliding_attention", "full_attention"] * 2),
    "gemma4_text": _GEMMA4,
    "gpt_neo": dict(attention_types=[[["global", "local"], 1]]),
    "inkling2_text": dict(swa_num_attention_heads=4, swa_num_key_value_heads=2, swa_head_dim=8,
                          unpadded_vocab_size=96),
    "inkling2_loop_text": dict(swa_num_attention_heads=4, swa_num_key_value_heads=2,
                               swa_head_dim=8, unpadded_vocab_size=96),
    "granitemoehybrid": dict(layer_types=["linear_attention", "full_attention"]),
    "jamba": dict(attn_layer_period=2, attn_layer_offset=1, expert_layer_period=2,
                  expert_layer_offset=1),
    "kolibri1_1": dict(head_dim=16, index_num_heads=2),
    "kimi_linear": dict(linear_head_dim=8, linear_num_heads=4),
    "longcat_flash": dict(head_dim=4),
    "lfm2_moe": dict(layer_types=["conv", "full_attention"], num_dense_layers=1),
    "mamba2": dict(num_heads=8, head_dim=8),
    "reformer": dict(attn_layers=["local", "local"], local_attn_chunk_length=8,
                     axial_pos_shape=[8, 16], axial_pos_embds_dim=[16, 16]),
    "roc_bert": dict(pronunciation_embed_dim=32, pronunciation_vocab_size=16, shape_embed_dim=32,
                     shape_vocab_size=16),
    "phi4_multimodal": dict(audio_config=dict(ext_pw_out_channel=32, nemo_conv_channels=32,
                                              depthwise_separable_out_channel=32)),
    "mpt": dict(logit_scale=0.5),
    "qwen4_exp_text": _QWEN4,
    "xlm": dict(emb_dim=32, causal=True),
    # its config rounds the q/k and v widths up to multiples of 64 but the model does not, so
    # the recurrent state only fits a hidden size of 64 with factors 1
    "xlstm": dict(chunk_size=None, hidden_size=64, embedding_dim=64, qk_dim_factor=1.0,
                  v_dim_factor=1.0),
    "xlnet": dict(attn_type="uni"),          # causal ("uni") attention, not bidirectional
    "xmod": dict(default_language="en_XX"),
    "zamba": dict(attention_hidden_size=64, attention_head_dim=16, n_mamba_heads=2,
                  num_hidden_layers=4, layers_block_type=["linear_attention", "hybrid"] * 2),
    "zaya": dict(num_experts_per_tok=1),
}
for _wrapper, _text in (("dots3_note", "dots3_note_text"), ("gemma4", "gemma4_text"),
                        ("gemma4_unified", "gemma4_text"),
                        ("qwen4_exp", "qwen4_exp_text")):
    OVERRIDES.setdefault(_wrapper, {}).setdefault("text_config", OVERRIDES[_text])

#: LM-head extras, set (where the family has them) to values that matter at logits of O(1-10):
#: a soft-cap of 5 bends them, a logit scale of 2 (Granite divides, others multiply) changes them.
_HEAD_EXTRAS = {"final_logit_softcapping": 5.0, "logits_soft_cap": 5.0, "output_logit_soft_cap": 5.0,
                "logits_scaling": 2.0, "lm_head_multiplier": 0.5}

_PER_LAYER_LISTS = ("layer_types", "mlp_layer_types", "layers_block_type", "block_types",
                    "attention_layers", "hybrid_override_pattern", "layers_type")
_WINDOW_FIELDS = ("sliding_window", "attention_window_size", "attention_chunk_size",
                  "window_size", "sliding_window_size")
_NESTED = ("text_config", "decoder_config", "language_config", "decoder", "llm_config")


def _fields(cls) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else set()


def _get(config, name):
    """``config.name``, or None (also for per-layer attributes a global read refuses)."""
    try:
        return getattr(config, name, None)
    except Exception:             # transformers' AmbiguousGlobalPerLayerAttributeError
        return None


def _cut_layers(values, n: int):
    """``values`` cut to ``n`` layers keeping one layer of each kind (first-seen order)."""
    kinds = list(dict.fromkeys(values if not isinstance(values, str) else list(values)))
    out = (kinds + [values[0]] * n)[:max(n, len(kinds))]
    return "".join(out) if isinstance(values, str) else out


def _kwargs_for(cls, default, overrides: dict, *, nested: bool = False) -> dict:
    """Constructor kwargs of a tiny ``cls`` config (``default`` is its default instance)."""
    fields = _fields(cls)
    kw = {k: v for k, v in BASE.items() if k in fields}
    if nested:
        kw.update({k: v for k, v in _SUB_BASE.items() if k in fields})
    if "kv_lora_rank" in fields:          # multi-head latent attention: as many kv heads as heads
        kw["num_key_value_heads"] = kw.get("num_attention_heads", 4)
    if "is_decoder" in fields:            # BERT-likes: causal self-attention, not bidirectional
        kw["is_decoder"] = True
    for k, v in _HEAD_EXTRAS.items():     # head soft-caps and logit scales that bend O(1-10) logits
        if k in fields and _get(default, k) is not None:
            kw[k] = v
    per_layer = {k: _get(default, k) for k in _PER_LAYER_LISTS
                 if k in fields and isinstance(_get(default, k), (list, str)) and len(_get(default, k)) > 1}
    per_layer = {k: v for k, v in per_layer.items() if k not in overrides}
    if per_layer:
        n = max([2] + [len(set(v)) for v in per_layer.values()])
        for key in ("num_hidden_layers", "n_layer", "n_layers", "num_layers"):
            if key in kw:
                kw[key] = n
        for k, v in per_layer.items():
            kw[k] = _cut_layers(v, n)
    sub_overrides = {k: v for k, v in overrides.items() if isinstance(v, dict) and k in fields
                     and hasattr(_get(default, k), "to_dict")}
    for name in fields:                   # every nested config gets the same sizes
        sub = _get(default, name)
        if sub is not None and hasattr(sub, "to_dict") and hasattr(type(sub), "model_type"):
            sub_kw = _kwargs_for(type(sub), sub, sub_overrides.get(name, {}), nested=True)
            with _quiet():
                kw[name] = type(sub)(**sub_kw)
    for k, v in overrides.items():
        if k in sub_overrides:
            continue
        if v is None:
            kw.pop(k, None)
        else:
            kw[k] = v
    return kw


@contextlib.contextmanager
def _quiet():
    """Silence transformers' config/model-init chatter (log records and warnings)."""
    logger = logging.getLogger("transformers")
    old = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with contextlib.redirect_stdout(io.StringIO()):
                yield
    finally:
        logger.setLevel(old)


def tiny_config(model_type: str, **overrides):
    """The tiny config of ``model_type`` (BASE + OVERRIDES + ``overrides``)."""
    if model_type not in FAMILIES:
        raise KeyError(f"{model_type!r} is not a causal-LM model type of this transformers")
    if model_type in UNBUILDABLE:
        raise UnbuildableFamily(UNBUILDABLE[model_type])
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING
    cls = CONFIG_MAPPING[model_type]
    with _quiet():
        default = cls()
    kw = _kwargs_for(cls, default, {**OVERRIDES.get(model_type, {}), **overrides})
    with _quiet():
        return cls(**kw)


_MAX_PARAMETERS = 1_500_000
_PROBE = torch.tensor([[0, 5, 17, 33, 2, 64, 9, 80, 41, 12, 7, 3, 55, 21, 90, 4, 66, 28, 13, 70]])


def build_tiny(model_type: str, seed: int = 0, **overrides) -> torch.nn.Module:
    """A tiny random-init ``model_type`` causal LM: eval mode, float32, seeded.

    Raises :class:`UnbuildableFamily` for the model types of :data:`UNBUILDABLE`.
    """
    from transformers import AutoModelForCausalLM
    cfg = tiny_config(model_type, **overrides)
    with _quiet():
        with torch.device("meta"):      # size check first: a missed field can mean billions
            n = sum(p.numel() for p in AutoModelForCausalLM.from_config(cfg).parameters())
        if n > _MAX_PARAMETERS:
            raise RuntimeError(f"tiny {model_type} config still has {n:,} parameters")
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32).eval()
        init = {n: p.detach().clone() for n, p in model.named_parameters() if p.dim() >= 2}
        params = dict(model.named_parameters())
        for factor in (8.0, 4.0, 2.0, 1.0):       # larger weights than the init: logits not ≈ 0
            with torch.no_grad():
                for n, p in init.items():
                    params[n].copy_(p * factor)
                logits = model(input_ids=_PROBE).logits
            if torch.isfinite(logits).all() and logits.abs().max() < 50:
                break
    return model


def tiny_lm(model_type: str, seed: int = 0, **overrides):
    """:func:`build_tiny` wrapped as an HFCausalLM (no tokenizer, prefix token 0)."""
    from logitrank.real_models.adapter import HFCausalLM
    return HFCausalLM(build_tiny(model_type, seed, **overrides), None, prefix_tokens=[0],
                      name=f"tiny-{model_type}")
