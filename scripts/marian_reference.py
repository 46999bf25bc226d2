"""A PyTorch re-implementation of Hugging Face's MarianMTModel (transformers 4.38
models/marian/modeling_marian.py), eager attention, dropout in eval mode, with HF's attribute
paths so state-dict keys are the checkpoint keys, plus MarianTokenizer's id mapping.

`transformers` is not installed here. The attention, layers and stacks are BART's (HF copies them
into Marian), written once in scripts/seq2seq_reference_common.py. They are checked against
torch.nn.TransformerEncoder / TransformerDecoder (post-norm layers without a final norm: the
architectures coincide there) by scripts/validate_marian_reference.py; the sinusoidal positions
against their closed form.
"""

from __future__ import annotations

import json
import re

import numpy as np
import torch
import torch.nn as nn

from seq2seq_reference_common import PostLnForConditionalGeneration, shift_tokens_right  # noqa: F401 (re-exported)


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


class MarianMTModel(PostLnForConditionalGeneration):
    """BART's post-LN stacks (seq2seq_reference_common.py) with static sinusoidal positions and no
    layernorm_embedding."""

    def __init__(self, config: dict):
        super().__init__(config, lambda c: MarianSinusoidalPositionalEmbedding(c.max_position_embeddings, c.d_model),
                         layernorm_embedding=False)


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
