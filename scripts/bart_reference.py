"""A PyTorch re-implementation of Hugging Face's BartForConditionalGeneration (transformers 4.38
models/bart/modeling_bart.py), eager attention, dropout in eval mode, with HF's attribute paths so
state-dict keys are the checkpoint keys.

`transformers` is not installed here. HF writes the attention and the encoder/decoder layers once
for BART and copies them into Marian ("Copied from transformers.models.bart.modeling_bart"), so the
layers are scripts/marian_reference.py's; what BART adds is here: learned positions read at
position + 2 (BartLearnedPositionalEmbedding), `layernorm_embedding` on the summed embeddings of
both stacks, and BartConfig's defaults. scripts/validate_bart_reference.py checks the stacks against
torch.nn.TransformerEncoder / TransformerDecoder and the position offset against the table.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from marian_reference import MarianDecoderLayer, MarianEncoderLayer, additive_mask, causal_mask, shift_tokens_right
from text_reference import Config


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


class BartEncoder(nn.Module):
    def __init__(self, c: Config, embed_tokens: nn.Embedding):
        super().__init__()
        self.embed_scale = math.sqrt(c.d_model) if c.scale_embedding else 1.0
        self.embed_tokens = embed_tokens
        self.embed_positions = BartLearnedPositionalEmbedding(c.max_position_embeddings, c.d_model)
        self.layers = nn.ModuleList([MarianEncoderLayer(c) for _ in range(c.encoder_layers)])
        self.layernorm_embedding = nn.LayerNorm(c.d_model)

    def embed(self, input_ids):
        return self.layernorm_embedding(self.embed_tokens(input_ids) * self.embed_scale + self.embed_positions(input_ids.shape[1]))

    def forward(self, input_ids, attention_mask):
        h = self.embed(input_ids)
        mask = additive_mask(attention_mask, h.dtype)
        for layer in self.layers:
            h = layer(h, mask)
        return h


class BartDecoder(nn.Module):
    def __init__(self, c: Config, embed_tokens: nn.Embedding):
        super().__init__()
        self.embed_scale = math.sqrt(c.d_model) if c.scale_embedding else 1.0
        self.embed_tokens = embed_tokens
        self.embed_positions = BartLearnedPositionalEmbedding(c.max_position_embeddings, c.d_model)
        self.layers = nn.ModuleList([MarianDecoderLayer(c) for _ in range(c.decoder_layers)])
        self.layernorm_embedding = nn.LayerNorm(c.d_model)

    def embed(self, input_ids, past: int = 0):
        return self.layernorm_embedding(self.embed_tokens(input_ids) * self.embed_scale + self.embed_positions(input_ids.shape[1], past))

    def forward(self, input_ids, enc, enc_attention_mask, decoder_attention_mask=None):
        T = input_ids.shape[1]
        h = self.embed(input_ids)
        self_mask = causal_mask(T, h.dtype)
        if decoder_attention_mask is not None:
            self_mask = self_mask + additive_mask(decoder_attention_mask, h.dtype)
            self_mask = self_mask.clamp(min=torch.finfo(h.dtype).min)
        enc_mask = additive_mask(enc_attention_mask, h.dtype)
        for layer in self.layers:
            h = layer(h, self_mask, enc, enc_mask)
        return h


class BartModel(nn.Module):
    def __init__(self, c: Config):
        super().__init__()
        self.shared = nn.Embedding(c.vocab_size, c.d_model, c.pad_token_id)
        self.encoder = BartEncoder(c, self.shared)
        self.decoder = BartDecoder(c, self.shared)


class BartForConditionalGeneration(nn.Module):
    def __init__(self, config: dict):
        super().__init__()
        c = Config(config)
        self.config = c
        self.model = BartModel(c)
        self.lm_head = nn.Linear(c.d_model, c.vocab_size, bias=False)
        self.lm_head.weight = self.model.shared.weight  # tied
        self.register_buffer("final_logits_bias", torch.zeros(1, c.vocab_size))

    def encode(self, input_ids, attention_mask):
        return self.model.encoder(input_ids, attention_mask)

    def decode(self, decoder_input_ids, enc, attention_mask, decoder_attention_mask=None):
        h = self.model.decoder(decoder_input_ids, enc, attention_mask, decoder_attention_mask)
        return self.lm_head(h) + self.final_logits_bias

    def forward(self, input_ids, attention_mask, decoder_input_ids=None, labels=None, decoder_attention_mask=None):
        c = self.config
        if labels is not None and decoder_input_ids is None:
            decoder_input_ids = shift_tokens_right(labels, c.pad_token_id, c.decoder_start_token_id)
        enc = self.encode(input_ids, attention_mask)
        logits = self.decode(decoder_input_ids, enc, attention_mask, decoder_attention_mask)
        out = {"logits": logits, "encoder_last_hidden_state": enc, "decoder_input_ids": decoder_input_ids}
        if labels is not None:
            out["loss"] = F.cross_entropy(logits.view(-1, logits.shape[-1]), labels.view(-1))
        return out


def checkpoint_state_dict(model: BartForConditionalGeneration) -> dict:
    """As save_pretrained writes it: the tied copies (encoder/decoder embed_tokens, lm_head) left out;
    the learned position tables are weights and stay."""
    return {k: v for k, v in model.state_dict().items() if not (k.endswith("embed_tokens.weight") or k == "lm_head.weight")}
