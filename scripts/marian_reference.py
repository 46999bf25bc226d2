"""A PyTorch re-implementation of Hugging Face's MarianMTModel (transformers 4.38
models/marian/modeling_marian.py), eager attention, dropout in eval mode, with HF's attribute
paths so state-dict keys are the checkpoint keys, plus MarianTokenizer's id mapping.

`transformers` is not installed here. The layers are checked against torch.nn.TransformerEncoder /
TransformerDecoder (post-norm layers without a final norm: the architectures coincide there) by
scripts/validate_marian_reference.py; the sinusoidal positions against their closed form.
"""

from __future__ import annotations

import json
import math
import re
from typing import Optional

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from text_reference import Config, get_activation


def marian_config(**overrides) -> dict:
    cfg = {
        "activation_dropout": 0.0,
        "activation_function": "swish",
        "architectures": ["MarianMTModel"],
        "attention_dropout": 0.0,
        "bad_words_ids": None,
        "bos_token_id": 0,
        "d_model": 512,
        "decoder_attention_heads": 8,
        "decoder_ffn_dim": 2048,
        "decoder_layerdrop": 0.0,
        "decoder_layers": 6,
        "decoder_start_token_id": 58100,
        "decoder_vocab_size": None,
        "dropout": 0.1,
        "encoder_attention_heads": 8,
        "encoder_ffn_dim": 2048,
        "encoder_layerdrop": 0.0,
        "encoder_layers": 6,
        "eos_token_id": 0,
        "forced_eos_token_id": 0,
        "init_std": 0.02,
        "is_encoder_decoder": True,
        "max_length": 512,
        "max_position_embeddings": 512,
        "model_type": "marian",
        "num_beams": 4,
        "num_hidden_layers": 6,
        "pad_token_id": 58100,
        "scale_embedding": True,
        "share_encoder_decoder_embeddings": True,
        "static_position_embeddings": True,
        "tie_word_embeddings": True,
        "torch_dtype": "float32",
        "transformers_version": "4.38.2",
        "use_cache": True,
        "vocab_size": 58101,
    }
    cfg.update(overrides)
    return dict(sorted(cfg.items()))


def sinusoidal_table(n_pos: int, dim: int) -> torch.Tensor:
    """MarianSinusoidalPositionalEmbedding._init_weight: sin in the first half, cos in the second."""
    position_enc = np.array([[pos / np.power(10000, 2 * (j // 2) / dim) for j in range(dim)] for pos in range(n_pos)])
    out = torch.empty(n_pos, dim)
    sentinel = dim // 2 if dim % 2 == 0 else (dim // 2) + 1
    out[:, 0:sentinel] = torch.FloatTensor(np.sin(position_enc[:, 0::2]))
    out[:, sentinel:] = torch.FloatTensor(np.cos(position_enc[:, 1::2]))
    return out


class MarianSinusoidalPositionalEmbedding(nn.Embedding):
    def __init__(self, num_positions: int, embedding_dim: int):
        super().__init__(num_positions, embedding_dim)
        with torch.no_grad():
            self.weight.copy_(sinusoidal_table(num_positions, embedding_dim))
        self.weight.requires_grad = False

    def forward(self, seq_len: int, past_key_values_length: int = 0) -> torch.Tensor:
        positions = torch.arange(past_key_values_length, past_key_values_length + seq_len, dtype=torch.long)
        return super().forward(positions)  # (T, C)


def shift_tokens_right(labels: torch.Tensor, pad_token_id: int, decoder_start_token_id: int) -> torch.Tensor:
    shifted = labels.new_zeros(labels.shape)
    shifted[:, 1:] = labels[:, :-1].clone()
    shifted[:, 0] = decoder_start_token_id
    return shifted.masked_fill(shifted == -100, pad_token_id)


def additive_mask(mask: torch.Tensor, dtype) -> torch.Tensor:
    """(B, S) 1/0 -> (B, 1, 1, S) of 0 / dtype-min (HF _prepare_4d_attention_mask)."""
    return (1.0 - mask[:, None, None, :].to(dtype)) * torch.finfo(dtype).min


def causal_mask(T: int, dtype) -> torch.Tensor:
    m = torch.full((T, T), torch.finfo(dtype).min, dtype=dtype)
    return torch.triu(m, diagonal=1)[None, None]  # (1, 1, T, T)


class MarianAttention(nn.Module):
    def __init__(self, embed_dim: int, num_heads: int):
        super().__init__()
        self.embed_dim, self.num_heads = embed_dim, num_heads
        self.head_dim = embed_dim // num_heads
        self.scaling = self.head_dim ** -0.5
        self.k_proj = nn.Linear(embed_dim, embed_dim)
        self.v_proj = nn.Linear(embed_dim, embed_dim)
        self.q_proj = nn.Linear(embed_dim, embed_dim)
        self.out_proj = nn.Linear(embed_dim, embed_dim)

    def forward(self, hidden, kv=None, mask=None):
        B, T, C = hidden.shape
        kv = hidden if kv is None else kv
        S = kv.shape[1]

        def heads(t, n):
            return t.view(B, n, self.num_heads, self.head_dim).transpose(1, 2)  # (B, nh, n, hd)

        q = heads(self.q_proj(hidden) * self.scaling, T)
        k = heads(self.k_proj(kv), S)
        v = heads(self.v_proj(kv), S)
        w = q @ k.transpose(-1, -2)  # (B, nh, T, S)
        if mask is not None:
            w = w + mask
        w = F.softmax(w, dim=-1)
        a = (w @ v).transpose(1, 2).reshape(B, T, C)
        return self.out_proj(a)


class MarianEncoderLayer(nn.Module):
    def __init__(self, c: Config):
        super().__init__()
        d = c.d_model
        self.self_attn = MarianAttention(d, c.encoder_attention_heads)
        self.self_attn_layer_norm = nn.LayerNorm(d)
        self.act = get_activation(c.activation_function)
        self.fc1 = nn.Linear(d, c.encoder_ffn_dim)
        self.fc2 = nn.Linear(c.encoder_ffn_dim, d)
        self.final_layer_norm = nn.LayerNorm(d)

    def forward(self, h, mask):
        h = self.self_attn_layer_norm(h + self.self_attn(h, mask=mask))
        return self.final_layer_norm(h + self.fc2(self.act(self.fc1(h))))


class MarianDecoderLayer(nn.Module):
    def __init__(self, c: Config):
        super().__init__()
        d = c.d_model
        self.self_attn = MarianAttention(d, c.decoder_attention_heads)
        self.self_attn_layer_norm = nn.LayerNorm(d)
        self.encoder_attn = MarianAttention(d, c.decoder_attention_heads)
        self.encoder_attn_layer_norm = nn.LayerNorm(d)
        self.act = get_activation(c.activation_function)
        self.fc1 = nn.Linear(d, c.decoder_ffn_dim)
        self.fc2 = nn.Linear(c.decoder_ffn_dim, d)
        self.final_layer_norm = nn.LayerNorm(d)

    def forward(self, h, self_mask, enc, enc_mask):
        h = self.self_attn_layer_norm(h + self.self_attn(h, mask=self_mask))
        h = self.encoder_attn_layer_norm(h + self.encoder_attn(h, kv=enc, mask=enc_mask))
        return self.final_layer_norm(h + self.fc2(self.act(self.fc1(h))))


class MarianEncoder(nn.Module):
    def __init__(self, c: Config, embed_tokens: nn.Embedding):
        super().__init__()
        self.embed_scale = math.sqrt(c.d_model) if c.scale_embedding else 1.0
        self.embed_tokens = embed_tokens
        self.embed_positions = MarianSinusoidalPositionalEmbedding(c.max_position_embeddings, c.d_model)
        self.layers = nn.ModuleList([MarianEncoderLayer(c) for _ in range(c.encoder_layers)])

    def forward(self, input_ids, attention_mask):
        h = self.embed_tokens(input_ids) * self.embed_scale + self.embed_positions(input_ids.shape[1])
        mask = additive_mask(attention_mask, h.dtype)
        for layer in self.layers:
            h = layer(h, mask)
        return h


class MarianDecoder(nn.Module):
    def __init__(self, c: Config, embed_tokens: nn.Embedding):
        super().__init__()
        self.embed_scale = math.sqrt(c.d_model) if c.scale_embedding else 1.0
        self.embed_tokens = embed_tokens
        self.embed_positions = MarianSinusoidalPositionalEmbedding(c.max_position_embeddings, c.d_model)
        self.layers = nn.ModuleList([MarianDecoderLayer(c) for _ in range(c.decoder_layers)])

    def forward(self, input_ids, enc, enc_attention_mask, decoder_attention_mask=None):
        T = input_ids.shape[1]
        h = self.embed_tokens(input_ids) * self.embed_scale + self.embed_positions(T)
        self_mask = causal_mask(T, h.dtype)
        if decoder_attention_mask is not None:
            self_mask = self_mask + additive_mask(decoder_attention_mask, h.dtype)
            self_mask = self_mask.clamp(min=torch.finfo(h.dtype).min)
        enc_mask = additive_mask(enc_attention_mask, h.dtype)
        for layer in self.layers:
            h = layer(h, self_mask, enc, enc_mask)
        return h


class MarianModel(nn.Module):
    def __init__(self, c: Config):
        super().__init__()
        self.shared = nn.Embedding(c.vocab_size, c.d_model, c.pad_token_id)
        self.encoder = MarianEncoder(c, self.shared)
        self.decoder = MarianDecoder(c, self.shared)


class MarianMTModel(nn.Module):
    def __init__(self, config: dict):
        super().__init__()
        c = Config(config)
        self.config = c
        self.model = MarianModel(c)
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


def checkpoint_state_dict(model: MarianMTModel) -> dict:
    """As save_pretrained writes it: tied copies (encoder/decoder embed_tokens, lm_head) and the
    static sinusoidal tables left out."""
    return {k: v for k, v in model.state_dict().items()
            if not (k.endswith("embed_tokens.weight") or k == "lm_head.weight" or "embed_positions" in k)}


# ----------------------------------------------------------------------------- tokenizer


class MarianTokenizerRef:
    """MarianTokenizer's rules over pieces from spm_encode: an optional leading >>lang<< code kept as
    one token, pieces -> vocab.json ids (unknown pieces -> <unk>), </s> appended."""

    language_code_re = re.compile(">>.+<<")

    def __init__(self, vocab_json: str):
        with open(vocab_json) as f:
            self.encoder = json.load(f)

    def ids(self, text: str, pieces_of) -> list:
        m = self.language_code_re.match(text)
        code = [m.group(0)] if m else []
        text = self.language_code_re.sub("", text)
        toks = code + pieces_of(text)
        unk = self.encoder["<unk>"]
        return [self.encoder.get(t, unk) for t in toks] + [self.encoder["</s>"]]
