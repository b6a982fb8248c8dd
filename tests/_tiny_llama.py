"""A tiny random Llama wrapped as an HFCausalLM, for fast CPU tests (no hub, no files)."""

import torch


def tiny_llama(seed: int = 0, vocab: int = 64, **overrides):
    from transformers import LlamaConfig, LlamaForCausalLM

    from logitrank.real_models.adapter import HFCausalLM
    cfg = dict(vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
               num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
               bos_token_id=0, eos_token_id=1, pad_token_id=1, tie_word_embeddings=False)
    cfg.update(overrides)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(LlamaConfig(**cfg)).eval()
    with torch.no_grad():      # larger weights than the init, so logits are not all ~0
        for p in model.parameters():
            if p.dim() == 2:
                p.mul_(8.0)
    return HFCausalLM(model, None, prefix_tokens=[0], name=f"tiny-llama-{seed}")
