"""A PyTorch re-implementation of Hugging Face's BartForConditionalGeneration (transformers 4.38
models/bart/modeling_bart.py), eager attention, dropout in eval mode, with HF's attribute paths so
state-dict keys are the checkpoint keys.

`transformers` is not installed here. HF writes the attention and the encoder/decoder layers once
for BART and copies them into Marian ("Copied from transformers.models.bart.modeling_bart"), so the
layers, stacks and wrapper are written once for both in scripts/seq2seq_reference_common.py; what
BART adds is here: learned positions read at position + 2 (BartLearnedPositionalEmbedding),
`layernorm_embedding` on the summed embeddings of both stacks, and BartConfig's defaults. scripts/validate_bart_reference.py checks the stacks against
torch.nn.TransformerEncoder / TransformerDecoder and the position offset against the table.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from seq2seq_reference_common import PostLnForConditionalGeneration, shift_tokens_right  # noqa: F401 (re-exported)


def bart_config(**overrides) -> dict:
    """BartConfig as save_pretrained writes it for facebook/bart-base (transformers 4.38)."""
    cfg = {
        "activation_dropout": 0.1,
        "activation_function": "gelu",
        "add_bias_logits": False,
        "add_final_layer_norm": False,
        "architectures": ["BartForConditionalGeneration"],
        "attention_dropout": 0.1,
        "bos_token_id": 0,
        "classifier_dropout": 0.0,
        "d_model": 768,
        "decoder_attention_heads": 12,
        "decoder_ffn_dim": 3072,
        "decoder_layerdrop": 0.0,
        "decoder_layers": 6,
        "decoder_start_token_id": 2,
        "dropout": 0.1,
        "early_stopping": True,
        "encoder_attention_heads": 12,
        "encoder_ffn_dim": 3072,
        "encoder_layerdrop": 0.0,
        "encoder_layers": 6,
        "eos_token_id": 2,
        "forced_bos_token_id": 0,
        "forced_eos_token_id": 2,
        "init_std": 0.02,
        "is_encoder_decoder": True,
        "max_position_embeddings": 1024,
        "model_type": "bart",
        "no_repeat_ngram_size": 3,
        "normalize_before": False,
        "num_beams": 4,
        "num_hidden_layers": 6,
        "pad_token_id": 1,
        "scale_embedding": False,
        "torch_dtype": "float32",
        "transformers_version": "4.38.2",
        "use_cache": True,
        "vocab_size": 50265,
    }
    cfg.update(overrides)
    return dict(sorted(cfg.items()))


class BartLearnedPositionalEmbedding(nn.Embedding):
    """Positions 0.. read rows 2.. (fairseq kept the first two rows for padding)."""

    def __init__(self, num_embeddings: int, embedding_dim: int):
        self.offset = 2
        super().__init__(num_embeddings + self.offset, embedding_dim)

    def forward(self, seq_len: int, past_key_values_length: int = 0) -> torch.Tensor:
        positions = torch.arange(past_key_values_length, past_key_values_length + seq_len, dtype=torch.long)
        return super().forward(positions + self.offset)  # (T, C)


class BartForConditionalGeneration(PostLnForConditionalGeneration):
    """The post-LN stacks (seq2seq_reference_common.py) with learned positions and a
    layernorm_embedding in both stacks."""

    def __init__(self, config: dict):
        super().__init__(config, lambda c: BartLearnedPositionalEmbedding(c.max_position_embeddings, c.d_model),
                         layernorm_embedding=True)


def checkpoint_state_dict(model: BartForConditionalGeneration) -> dict:
    """As save_pretrained writes it: the tied copies (encoder/decoder embed_tokens, lm_head) left out;
    the learned position tables are weights and stay."""
    return {k: v for k, v in model.state_dict().items() if not (k.endswith("embed_tokens.weight") or k == "lm_head.weight")}
