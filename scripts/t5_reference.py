"""A PyTorch re-implementation of Hugging Face's T5ForConditionalGeneration (transformers 4.38
models/t5/modeling_t5.py), eager attention, dropout in eval mode, with HF's attribute paths so
state-dict keys are the checkpoint keys, plus T5Tokenizer's (slow, SentencePiece) id rules.

`transformers` is not installed here. scripts/validate_t5_reference.py checks the attention with
relative position bias against torch.nn.MultiheadAttention (the bias given as its additive mask, the
1/sqrt(head_dim) scaling undone on the query weights) and the position buckets against a direct
reading of Mesh TensorFlow's definition.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from seq2seq_reference_common import additive_mask, shift_tokens_right


def t5_config(**overrides) -> dict:
    """t5-small's config.json (v1.0: ReLU feed-forward, tied embeddings), with overrides."""
    cfg = {
        "architectures": ["T5ForConditionalGeneration"],
        "d_ff": 2048,
        "d_kv": 64,
        "d_model": 512,
        "decoder_start_token_id": 0,
        "dense_act_fn": "relu",
        "dropout_rate": 0.1,
        "eos_token_id": 1,
        "feed_forward_proj": "relu",
        "initializer_factor": 1.0,
        "is_encoder_decoder": True,
        "is_gated_act": False,
        "layer_norm_epsilon": 1e-06,
        "model_type": "t5",
        "n_positions": 512,
        "num_decoder_layers": 6,
        "num_heads": 8,
        "num_layers": 6,
        "pad_token_id": 0,
        "relative_attention_max_distance": 128,
        "relative_attention_num_buckets": 32,
        "tie_word_embeddings": True,
        "torch_dtype": "float32",
        "transformers_version": "4.38.2",
        "use_cache": True,
        "vocab_size": 32128,
    }
    cfg.update(overrides)
    act = cfg["feed_forward_proj"].split("-")
    cfg["dense_act_fn"] = "gelu_new" if cfg["feed_forward_proj"] == "gated-gelu" else act[-1]
    cfg["is_gated_act"] = act[0] == "gated"
    return dict(sorted(cfg.items()))


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


ACT = {"relu": F.relu, "gelu_new": gelu_new, "gelu": F.gelu}


class T5LayerNorm(nn.Module):
    """RMS norm: no mean subtraction, no bias; the variance in float32 (or the input's wider type)."""

    def __init__(self, d: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, h):
        var = h.to(torch.float64 if h.dtype == torch.float64 else torch.float32).pow(2).mean(-1, keepdim=True)
        h = h * torch.rsqrt(var + self.eps)
        return self.weight * h.to(self.weight.dtype)


class T5DenseActDense(nn.Module):
    def __init__(self, c: dict):
        super().__init__()
        self.wi = nn.Linear(c["d_model"], c["d_ff"], bias=False)
        self.wo = nn.Linear(c["d_ff"], c["d_model"], bias=False)
        self.act = ACT[c["dense_act_fn"]]

    def forward(self, h):
        return self.wo(self.act(self.wi(h)))


class T5DenseGatedActDense(nn.Module):
    def __init__(self, c: dict):
        super().__init__()
        self.wi_0 = nn.Linear(c["d_model"], c["d_ff"], bias=False)
        self.wi_1 = nn.Linear(c["d_model"], c["d_ff"], bias=False)
        self.wo = nn.Linear(c["d_ff"], c["d_model"], bias=False)
        self.act = ACT[c["dense_act_fn"]]

    def forward(self, h):
        return self.wo(self.act(self.wi_0(h)) * self.wi_1(h))


class T5LayerFF(nn.Module):
    def __init__(self, c: dict):
        super().__init__()
        self.DenseReluDense = T5DenseGatedActDense(c) if c["is_gated_act"] else T5DenseActDense(c)
        self.layer_norm = T5LayerNorm(c["d_model"], c["layer_norm_epsilon"])

    def forward(self, h):
        return h + self.DenseReluDense(self.layer_norm(h))


def relative_position_bucket(relative_position, bidirectional=True, num_buckets=32, max_distance=128):
    """T5Attention._relative_position_bucket (memory position - query position -> bucket)."""
    relative_buckets = 0
    if bidirectional:
        num_buckets //= 2
        relative_buckets += (relative_position > 0).to(torch.long) * num_buckets
        relative_position = torch.abs(relative_position)
    else:
        relative_position = -torch.min(relative_position, torch.zeros_like(relative_position))
    max_exact = num_buckets // 2
    is_small = relative_position < max_exact
    if_large = max_exact + (
        torch.log(relative_position.float() / max_exact) / math.log(max_distance / max_exact) * (num_buckets - max_exact)
    ).to(torch.long)
    if_large = torch.min(if_large, torch.full_like(if_large, num_buckets - 1))
    relative_buckets += torch.where(is_small, relative_position, if_large)
    return relative_buckets


class T5Attention(nn.Module):
    def __init__(self, c: dict, is_decoder: bool, has_relative_attention_bias: bool):
        super().__init__()
        self.is_decoder = is_decoder
        self.has_relative_attention_bias = has_relative_attention_bias
        self.num_buckets = c["relative_attention_num_buckets"]
        self.max_distance = c["relative_attention_max_distance"]
        self.n_heads, self.d_kv = c["num_heads"], c["d_kv"]
        inner = self.n_heads * self.d_kv
        self.q = nn.Linear(c["d_model"], inner, bias=False)
        self.k = nn.Linear(c["d_model"], inner, bias=False)
        self.v = nn.Linear(c["d_model"], inner, bias=False)
        self.o = nn.Linear(inner, c["d_model"], bias=False)
        if has_relative_attention_bias:
            self.relative_attention_bias = nn.Embedding(self.num_buckets, self.n_heads)

    def compute_bias(self, query_length, key_length, dtype):
        """(1, nh, q, k): the bias of each (query, key) position pair."""
        context = torch.arange(query_length, dtype=torch.long)[:, None]
        memory = torch.arange(key_length, dtype=torch.long)[None, :]
        buckets = relative_position_bucket(memory - context, not self.is_decoder, self.num_buckets, self.max_distance)
        return self.relative_attention_bias(buckets).permute([2, 0, 1]).unsqueeze(0).to(dtype)

    def forward(self, h, kv=None, mask=None, position_bias=None):
        """No 1/sqrt(d) scaling (folded into the initialisation). Returns (output, position_bias)."""
        B, T, _ = h.shape
        kv = h if kv is None else kv
        S = kv.shape[1]

        def heads(t, n):
            return t.view(B, n, self.n_heads, self.d_kv).transpose(1, 2)  # (B, nh, n, dkv)

        q, k, v = heads(self.q(h), T), heads(self.k(kv), S), heads(self.v(kv), S)
        scores = q @ k.transpose(3, 2)  # (B, nh, T, S)
        if position_bias is None:
            if self.has_relative_attention_bias:
                position_bias = self.compute_bias(T, S, scores.dtype)
            else:
                position_bias = torch.zeros((1, self.n_heads, T, S), dtype=scores.dtype)
            if mask is not None:
                position_bias = position_bias + mask  # (B, nh, T, S)
        w = F.softmax((scores + position_bias).float() if scores.dtype != torch.float64 else scores + position_bias, dim=-1).type_as(scores)
        a = (w @ v).transpose(1, 2).reshape(B, T, self.n_heads * self.d_kv)
        return self.o(a), position_bias


class T5LayerSelfAttention(nn.Module):
    def __init__(self, c: dict, is_decoder: bool, has_relative_attention_bias: bool):
        super().__init__()
        self.SelfAttention = T5Attention(c, is_decoder, has_relative_attention_bias)
        self.layer_norm = T5LayerNorm(c["d_model"], c["layer_norm_epsilon"])

    def forward(self, h, mask, position_bias):
        a, position_bias = self.SelfAttention(self.layer_norm(h), mask=mask, position_bias=position_bias)
        return h + a, position_bias


class T5LayerCrossAttention(nn.Module):
    def __init__(self, c: dict):
        super().__init__()
        self.EncDecAttention = T5Attention(c, True, False)
        self.layer_norm = T5LayerNorm(c["d_model"], c["layer_norm_epsilon"])

    def forward(self, h, enc, mask, position_bias):
        a, position_bias = self.EncDecAttention(self.layer_norm(h), kv=enc, mask=mask, position_bias=position_bias)
        return h + a, position_bias


class T5Block(nn.Module):
    def __init__(self, c: dict, is_decoder: bool, has_relative_attention_bias: bool):
        super().__init__()
        self.is_decoder = is_decoder
        layers = [T5LayerSelfAttention(c, is_decoder, has_relative_attention_bias)]
        if is_decoder:
            layers.append(T5LayerCrossAttention(c))
        layers.append(T5LayerFF(c))
        self.layer = nn.ModuleList(layers)


class T5Stack(nn.Module):
    def __init__(self, c: dict, embed_tokens: nn.Embedding, is_decoder: bool):
        super().__init__()
        self.embed_tokens = embed_tokens
        self.is_decoder = is_decoder
        n = c["num_decoder_layers"] if is_decoder else c["num_layers"]
        self.block = nn.ModuleList([T5Block(c, is_decoder, i == 0) for i in range(n)])
        self.final_layer_norm = T5LayerNorm(c["d_model"], c["layer_norm_epsilon"])

    def forward(self, ids, attention_mask, enc=None, enc_mask=None):
        h = self.embed_tokens(ids)
        B, T = ids.shape
        if self.is_decoder:
            causal = torch.tril(torch.ones(T, T, dtype=torch.long))[None, None]  # (1, 1, T, T)
            m = (1.0 - causal.to(h.dtype)) * torch.finfo(h.dtype).min
            if attention_mask is not None:
                m = (1.0 - (causal * attention_mask[:, None, None, :]).to(h.dtype)) * torch.finfo(h.dtype).min
        else:
            m = additive_mask(attention_mask, h.dtype)
        cross_mask = additive_mask(enc_mask, h.dtype) if enc is not None else None
        bias, cross_bias = None, None
        for blk in self.block:
            h, bias = blk.layer[0](h, m, bias)
            if self.is_decoder:
                h, cross_bias = blk.layer[1](h, enc, cross_mask, cross_bias)
            h = blk.layer[-1](h)
        return self.final_layer_norm(h)


class T5ForConditionalGeneration(nn.Module):
    def __init__(self, config: dict):
        super().__init__()
        self.config = c = config
        self.shared = nn.Embedding(c["vocab_size"], c["d_model"])
        self.encoder = T5Stack(c, self.shared, False)
        self.decoder = T5Stack(c, self.shared, True)
        self.lm_head = nn.Linear(c["d_model"], c["vocab_size"], bias=False)
        if c["tie_word_embeddings"]:
            self.lm_head.weight = self.shared.weight

    def encode(self, input_ids, attention_mask):
        return self.encoder(input_ids, attention_mask)

    def decode(self, decoder_input_ids, enc, attention_mask):
        h = self.decoder(decoder_input_ids, None, enc, attention_mask)
        if self.config["tie_word_embeddings"]:
            h = h * (self.config["d_model"] ** -0.5)
        return self.lm_head(h)

    def forward(self, input_ids, attention_mask, labels):
        dec = shift_tokens_right(labels, self.config["pad_token_id"], self.config["decoder_start_token_id"])
        enc = self.encode(input_ids, attention_mask)
        logits = self.decode(dec, enc, attention_mask)
        loss = F.cross_entropy(logits.view(-1, logits.shape[-1]), labels.view(-1), ignore_index=-100)
        return {"logits": logits, "encoder_last_hidden_state": enc, "decoder_input_ids": dec, "loss": loss}


def checkpoint_state_dict(model: T5ForConditionalGeneration) -> dict:
    """As save_pretrained writes it: the tied embed_tokens copies (and a tied lm_head) left out."""
    tied = model.config["tie_word_embeddings"]
    return {k: v for k, v in model.state_dict().items() if not (k.endswith("embed_tokens.weight") or (tied and k == "lm_head.weight"))}


# ----------------------------------------------------------------------------- tokenizer


class T5TokenizerRef:
    """T5Tokenizer (slow): SentencePiece pieces -> ids (sp.piece_to_id), `<extra_id_N>` = vocab size
    - 1 - N counted from the end of the extended vocabulary, `</s>` appended."""

    def __init__(self, sp, extra_ids: int = 100):
        self.sp = sp
        self.extra_ids = extra_ids

    @property
    def vocab_size(self):
        return self.sp.get_piece_size() + self.extra_ids

    def ids(self, text: str) -> list:
        import re
        out = []
        # added tokens (<extra_id_N>) split the text first; each part is encoded alone
        for part in re.split(r"(<extra_id_\d+>)", text):
            m = re.fullmatch(r"<extra_id_(\d+)>", part)
            if m:
                out.append(self.vocab_size - 1 - int(m.group(1)))
            elif part.strip():
                out += [self.sp.piece_to_id(p) for p in self.sp.encode(part, out_type=str)]
        return out + [self.sp.eos_id()]
