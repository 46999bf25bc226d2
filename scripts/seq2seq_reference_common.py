"""What the seq2seq references (Marian, BART, T5), their golden generators and their validators share.

- masks and labels: additive padding / causal masks, shift_tokens_right (HF 4.38);
- the post-LN encoder-decoder of HF's modeling_bart.py, which HF copies into Marian ("Copied from
  transformers.models.bart.modeling_bart"): attention, encoder/decoder layers, stacks and the
  ForConditionalGeneration wrapper, with HF's attribute paths (state-dict keys are checkpoint keys);
  a family supplies its position embedding and whether a layernorm_embedding follows the embeddings;
- golden writing: weights seeded by name, tensors as JSON, the padded forward batch, logits / loss /
  gradients in float64 with the float32 gap, greedy and beam generation re-running the decoder;
- validation: a pass/fail checker and the post-LN stacks copied into torch.nn.TransformerEncoder /
  TransformerDecoder (post-norm layers without a final norm: the architectures coincide there).
"""

from __future__ import annotations

import json
import math
import os
import sys
import zlib
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

import generation_reference as gen
from safetensors_io import load_file, save_file
from text_reference import Config, get_activation

# ----------------------------------------------------------------------------- masks and labels


def additive_mask(mask: torch.Tensor, dtype) -> torch.Tensor:
    """(B, S) 1/0 -> (B, 1, 1, S) of 0 / dtype-min (HF _prepare_4d_attention_mask,
    get_extended_attention_mask)."""
    return (1.0 - mask[:, None, None, :].to(dtype)) * torch.finfo(dtype).min


def causal_mask(T: int, dtype) -> torch.Tensor:
    m = torch.full((T, T), torch.finfo(dtype).min, dtype=dtype)
    return torch.triu(m, diagonal=1)[None, None]  # (1, 1, T, T)


def shift_tokens_right(labels: torch.Tensor, pad_token_id: int, decoder_start_token_id: int) -> torch.Tensor:
    shifted = labels.new_zeros(labels.shape)
    shifted[:, 1:] = labels[:, :-1].clone()
    shifted[:, 0] = decoder_start_token_id
    return shifted.masked_fill(shifted == -100, pad_token_id)


# ----------------------------------------------------------------------------- post-LN encoder-decoder


class PostLnAttention(nn.Module):
    """BartAttention / MarianAttention, eager."""

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


class PostLnEncoderLayer(nn.Module):
    def __init__(self, c: Config):
        super().__init__()
        d = c.d_model
        self.self_attn = PostLnAttention(d, c.encoder_attention_heads)
        self.self_attn_layer_norm = nn.LayerNorm(d)
        self.act = get_activation(c.activation_function)
        self.fc1 = nn.Linear(d, c.encoder_ffn_dim)
        self.fc2 = nn.Linear(c.encoder_ffn_dim, d)
        self.final_layer_norm = nn.LayerNorm(d)

    def forward(self, h, mask):
        h = self.self_attn_layer_norm(h + self.self_attn(h, mask=mask))
        return self.final_layer_norm(h + self.fc2(self.act(self.fc1(h))))


class PostLnDecoderLayer(nn.Module):
    def __init__(self, c: Config):
        super().__init__()
        d = c.d_model
        self.self_attn = PostLnAttention(d, c.decoder_attention_heads)
        self.self_attn_layer_norm = nn.LayerNorm(d)
        self.encoder_attn = PostLnAttention(d, c.decoder_attention_heads)
        self.encoder_attn_layer_norm = nn.LayerNorm(d)
        self.act = get_activation(c.activation_function)
        self.fc1 = nn.Linear(d, c.decoder_ffn_dim)
        self.fc2 = nn.Linear(c.decoder_ffn_dim, d)
        self.final_layer_norm = nn.LayerNorm(d)

    def forward(self, h, self_mask, enc, enc_mask):
        h = self.self_attn_layer_norm(h + self.self_attn(h, mask=self_mask))
        h = self.encoder_attn_layer_norm(h + self.encoder_attn(h, kv=enc, mask=enc_mask))
        return self.final_layer_norm(h + self.fc2(self.act(self.fc1(h))))


# positions(c) -> a module called as positions(seq_len, past_key_values_length) -> (T, C)
Positions = Callable[[Config], nn.Module]


class _PostLnStack(nn.Module):
    def __init__(self, c: Config, embed_tokens: nn.Embedding, positions: Positions, layers: list,
                 layernorm_embedding: bool):
        super().__init__()
        self.embed_scale = math.sqrt(c.d_model) if c.scale_embedding else 1.0
        self.embed_tokens = embed_tokens
        self.embed_positions = positions(c)
        self.layers = nn.ModuleList(layers)
        self.layernorm_embedding = nn.LayerNorm(c.d_model) if layernorm_embedding else None

    def embed(self, input_ids, past: int = 0):
        h = self.embed_tokens(input_ids) * self.embed_scale + self.embed_positions(input_ids.shape[1], past)
        return h if self.layernorm_embedding is None else self.layernorm_embedding(h)


class PostLnEncoder(_PostLnStack):
    def __init__(self, c: Config, embed_tokens: nn.Embedding, positions: Positions, layernorm_embedding: bool):
        super().__init__(c, embed_tokens, positions, [PostLnEncoderLayer(c) for _ in range(c.encoder_layers)],
                         layernorm_embedding)

    def forward(self, input_ids, attention_mask):
        h = self.embed(input_ids)
        mask = additive_mask(attention_mask, h.dtype)
        for layer in self.layers:
            h = layer(h, mask)
        return h


class PostLnDecoder(_PostLnStack):
    def __init__(self, c: Config, embed_tokens: nn.Embedding, positions: Positions, layernorm_embedding: bool):
        super().__init__(c, embed_tokens, positions, [PostLnDecoderLayer(c) for _ in range(c.decoder_layers)],
                         layernorm_embedding)

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


class PostLnModel(nn.Module):
    """MarianModel / BartModel: one shared table for both stacks."""

    def __init__(self, c: Config, positions: Positions, layernorm_embedding: bool):
        super().__init__()
        self.shared = nn.Embedding(c.vocab_size, c.d_model, c.pad_token_id)
        self.encoder = PostLnEncoder(c, self.shared, positions, layernorm_embedding)
        self.decoder = PostLnDecoder(c, self.shared, positions, layernorm_embedding)


class PostLnForConditionalGeneration(nn.Module):
    """MarianMTModel / BartForConditionalGeneration: a tied lm_head plus final_logits_bias."""

    def __init__(self, config: dict, positions: Positions, layernorm_embedding: bool):
        super().__init__()
        c = Config(config)
        self.config = c
        self.model = PostLnModel(c, positions, layernorm_embedding)
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


# ----------------------------------------------------------------------------- golden writing


def seeded_randn(name: str, shape, offset: int) -> torch.Tensor:
    """N(0, 1) float32 seeded by the tensor's name, so adding a weight changes no other."""
    g = torch.Generator().manual_seed(zlib.crc32(name.encode()) + offset)
    return torch.randn(tuple(shape), generator=g, dtype=torch.float32)


def post_ln_init(name: str, shape, offset: int) -> torch.Tensor:
    """Weights N(0, 0.2), biases and final_logits_bias N(0, 0.1), LayerNorm weights 1 + N(0, 0.1)."""
    z = seeded_randn(name, shape, offset)
    if name.endswith(".bias") or name == "final_logits_bias":
        return 0.1 * z
    if ("layer_norm" in name or "layernorm" in name) and name.endswith(".weight"):
        return 1.0 + 0.1 * z
    return 0.2 * z


def tensor_json(t: torch.Tensor, rows=None, digits: int = 9) -> dict:
    """Values to `digits` significant digits; `rows`: only these rows of a matrix (the golden stays small)."""
    t = t.detach().to(torch.float64).contiguous()
    out = {"shape": list(t.shape)}
    if rows is not None:
        out["rows"] = rows
        t = t[rows]
    out["data"] = [float(format(v, f".{digits}g")) for v in t.reshape(-1).tolist()]
    return out


def _write_text(path: str, text: str) -> None:
    """Whole or not at all: a temporary file beside the target, renamed over it."""
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def write_json(path: str, obj, ensure_ascii: bool = True) -> None:
    """As config.json / tokenizer_config.json are written: indent 2, sorted keys, a final newline."""
    _write_text(path, json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=ensure_ascii) + "\n")


def write_golden(path: str, golden: dict, root: str, note: str = "") -> None:
    """Compact JSON, UTF-8 kept as is."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    _write_text(path, json.dumps(golden, separators=(",", ":"), ensure_ascii=False) + "\n")
    print("wrote", os.path.relpath(path, root), os.path.getsize(path), "bytes" + note)


def write_checkpoint(folder: str, model_class, config: dict, checkpoint_state_dict, init) -> Callable:
    """model.safetensors of `init(name, shape)` over the keys save_pretrained writes; returns
    build(dtype, **config_overrides) -> a model in eval mode holding the weights read back."""
    shapes = {k: tuple(v.shape) for k, v in checkpoint_state_dict(model_class(config)).items()}
    tensors = {k: init(k, s) for k, s in sorted(shapes.items())}
    path = os.path.join(folder, "model.safetensors")
    save_file(tensors, path, metadata={"format": "pt"})
    tensors = load_file(path)

    def build(dtype, **over):
        m = model_class({**config, **over})
        with torch.no_grad():
            sd = m.state_dict()
            for k, v in tensors.items():
                sd[k].copy_(v)
        return m.to(dtype).eval()
    return build


def padded_batch(src_ids: list, tgt_ids: list, pad: int):
    """The first two sources padded with `pad` (attention mask 0 there), labels padded with -100."""
    S = max(len(r) for r in src_ids[:2])
    T = max(len(r) for r in tgt_ids[:2])
    input_ids = [r + [pad] * (S - len(r)) for r in src_ids[:2]]
    attention_mask = [[1] * len(r) + [0] * (S - len(r)) for r in src_ids[:2]]
    labels = [r + [-100] * (T - len(r)) for r in tgt_ids[:2]]
    return input_ids, attention_mask, labels


def forward_golden(m64, m32, input_ids, attention_mask, labels, grad_params: list, rows_of, digits: int = 9,
                   extra: dict | None = None) -> dict:
    """Logits, encoder output, loss and the gradients of `grad_params` in float64 (the float32 model's
    gap beside them); rows_of(key, used) -> the rows to keep of that gradient (None: all), `used`
    the token ids of the batch and its decoder inputs. `extra` entries go after the gradients."""
    outs = {}
    for name, m in (("f64", m64), ("f32", m32)):
        m.zero_grad(set_to_none=True)
        o = m(torch.tensor(input_ids), torch.tensor(attention_mask), labels=torch.tensor(labels))
        o["loss"].backward()
        outs[name] = o
    o = outs["f64"]
    p64 = dict(m64.named_parameters())
    dec = o["decoder_input_ids"].tolist()
    used = {t for r in input_ids + dec for t in r}
    return {
        "input_ids": input_ids, "attention_mask": attention_mask, "labels": labels,
        "decoder_input_ids": dec,
        "logits": tensor_json(o["logits"], digits=digits),
        "encoder_last_hidden_state": tensor_json(o["encoder_last_hidden_state"], digits=digits),
        "loss": float(f"{float(o['loss']):.12g}"),
        "grads": {k: tensor_json(p64[k].grad, rows_of(k, used), digits) for k in grad_params},
        **(extra or {}),
        "float32_max_abs_diff": {"logits": float(f"{float((o['logits'] - outs['f32']['logits'].double()).abs().max()):.3g}"),
                                 "loss": float(f"{abs(float(o['loss']) - float(outs['f32']['loss'])):.3g}")},
    }


def next_logits_for(m, ids, mask):
    """The last position's logits of `m.decode`, re-running the whole decoder prefix each step."""
    enc = m.encode(torch.tensor(ids), torch.tensor(mask))

    def f(dec):
        # generate repeats each input's encoder output for its beams (_expand_inputs_for_generation)
        r = dec.shape[0] // enc.shape[0]
        with torch.no_grad():
            return m.decode(dec, enc.repeat_interleave(r, 0), torch.tensor(mask).repeat_interleave(r, 0))[:, -1, :]
    return f


def generation_cases(m64, m32, input_ids, attention_mask, start: int, settings: list, kw_of, label=()) -> list:
    """Each setting's greedy or beam sequences (generation_reference.py) in float64, and whether
    float32 gives the same; kw_of(setting) -> the search's keyword arguments."""
    cases = []
    with torch.no_grad():
        for s in settings:
            kw = kw_of(s)
            for m, key in ((m64, "sequences"), (m32, "sequences_float32")):
                f = next_logits_for(m, input_ids, attention_mask)
                first = [[start] for _ in input_ids]
                if s["num_beams"] > 1:
                    seqs = gen.beam_search(f, first, num_beams=s["num_beams"], length_penalty=s.get("length_penalty", 1.0),
                                           early_stopping=False, **kw)
                else:
                    seqs = gen.greedy(f, first, **kw)
                s[key] = seqs
            s["float32_same"] = s["sequences"] == s["sequences_float32"]
            del s["sequences_float32"]
            cases.append(s)
            print(*label, s["name"], s["sequences"], "float32 same" if s["float32_same"] else "FLOAT32 DIFFERS")
    return cases


# ----------------------------------------------------------------------------- validation


class Checks:
    """Prints one line per check; exit() ends the script with 1 if any failed."""

    def __init__(self):
        self.fails = []

    def ok(self, name: str, ok: bool, detail: str = "") -> None:
        print(f"{'ok  ' if ok else 'FAIL'} {name} {detail}")
        if not ok:
            self.fails.append(name)

    def close(self, name: str, a: torch.Tensor, b: torch.Tensor, tol: float) -> None:
        d = float((a - b).abs().max())
        ok = d <= tol
        print(f"{'ok  ' if ok else 'FAIL'} {name}: max abs diff {d:.3g} (tol {tol})")
        if not ok:
            self.fails.append(name)

    def exit(self) -> None:
        sys.exit(1 if self.fails else 0)


def copy_attn(dst: nn.MultiheadAttention, src: PostLnAttention) -> None:
    dst.in_proj_weight.copy_(torch.cat([src.q_proj.weight, src.k_proj.weight, src.v_proj.weight]))
    dst.in_proj_bias.copy_(torch.cat([src.q_proj.bias, src.k_proj.bias, src.v_proj.bias]))
    dst.out_proj.weight.copy_(src.out_proj.weight)
    dst.out_proj.bias.copy_(src.out_proj.bias)


def torch_transformer_stacks(m: PostLnForConditionalGeneration, d: int, nh: int, ff: int, activation: str, layers: int = 2):
    """float64 torch.nn.TransformerEncoder / TransformerDecoder (post-norm, no final norm) holding
    the weights of m's encoder and decoder layers (q/k/v copied into in_proj)."""
    enc_t = nn.TransformerEncoder(nn.TransformerEncoderLayer(d, nh, ff, dropout=0.0, activation=activation, batch_first=True), layers, enable_nested_tensor=False).double().eval()
    dec_t = nn.TransformerDecoder(nn.TransformerDecoderLayer(d, nh, ff, dropout=0.0, activation=activation, batch_first=True), layers).double().eval()
    with torch.no_grad():
        for lt, lm in zip(enc_t.layers, m.model.encoder.layers):
            copy_attn(lt.self_attn, lm.self_attn)
            lt.linear1.load_state_dict(lm.fc1.state_dict())
            lt.linear2.load_state_dict(lm.fc2.state_dict())
            lt.norm1.load_state_dict(lm.self_attn_layer_norm.state_dict())
            lt.norm2.load_state_dict(lm.final_layer_norm.state_dict())
        for lt, lm in zip(dec_t.layers, m.model.decoder.layers):
            copy_attn(lt.self_attn, lm.self_attn)
            copy_attn(lt.multihead_attn, lm.encoder_attn)
            lt.linear1.load_state_dict(lm.fc1.state_dict())
            lt.linear2.load_state_dict(lm.fc2.state_dict())
            lt.norm1.load_state_dict(lm.self_attn_layer_norm.state_dict())
            lt.norm2.load_state_dict(lm.encoder_attn_layer_norm.state_dict())
            lt.norm3.load_state_dict(lm.final_layer_norm.state_dict())
    return enc_t, dec_t


def check_encoder(checks: Checks, name: str, enc_t, x, mask, enc) -> None:
    """enc_t on the embeddings x against the reference's encoder output, at the real (unpadded) positions."""
    enc_ref = enc_t(x, src_key_padding_mask=mask == 0)
    checks.close(name, enc[mask == 1], enc_ref[mask == 1], 1e-10)


def check_decoder(checks: Checks, name: str, dec_t, y, enc, mask, h) -> None:
    """dec_t on the embeddings y (causal mask, source padding) against the reference's decoder output."""
    causal = nn.Transformer.generate_square_subsequent_mask(y.shape[1]).double()
    h_ref = dec_t(y, enc, tgt_mask=causal, memory_key_padding_mask=mask == 0)
    checks.close(name, h, h_ref, 1e-10)
