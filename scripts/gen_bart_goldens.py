"""The tiny BART fixture folder and its goldens.

    /usr/bin/python3 scripts/gen_bart_goldens.py

Writes test/fixtures/models/bart-tiny/ as a facebook/bart-* folder is laid out: config.json
(bart-base's fields with tiny sizes), model.safetensors (random float32 weights seeded by name:
weights N(0, 0.2), biases and final_logits_bias N(0, 0.1), LayerNorm weights 1 + N(0, 0.1)),
vocab.json + merges.txt (the byte-level BPE of test/fixtures/tokenizers/bpe-roberta, whose ids
<s> 0, <pad> 1, </s> 2, <unk> 3 are BART's), tokenizer_config.json (BartTokenizer); and
test/golden/bart/bart.json:

- tokenizer: the ids of a few strings.json texts as Hugging Face's Rust tokenizers gives them with
  RoBERTa/BART post-processing (<s> ... </s>), taken from bpe-roberta/golden.json (BartTokenizer
  is RobertaTokenizer: same vocabulary files, same special tokens).
- forward: logits, encoder output, loss and gradients of BartForConditionalGeneration
  (scripts/bart_reference.py) in float64 for a padded batch with labels (decoder inputs = labels
  shifted right behind </s>, as HF does); and the logits of the same weights with
  scale_embedding true.
- generate: greedy and beam-search sequences (scripts/generation_reference.py, HF 4.38 logic) with
  the config's decoder_start_token_id, forced_bos_token_id and forced_eos_token_id (and min_length
  in two cases), in float64,
  re-running the decoder each step.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import zlib

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import bart_reference as ref  # noqa: E402
import generation_reference as gen  # noqa: E402
from safetensors_io import load_file, save_file  # noqa: E402

ROOT = os.path.dirname(HERE)
FOLDER = os.path.join(ROOT, "test", "fixtures", "models", "bart-tiny")
TOKENIZERS = os.path.join(ROOT, "test", "fixtures", "tokenizers")
GOLDEN = os.path.join(ROOT, "test", "golden", "bart", "bart.json")

# indices into test/fixtures/tokenizers/strings.json
SOURCES = [0, 23, 1]
TARGETS = [51, 0, 24]


def init_tensor(name: str, shape) -> torch.Tensor:
    g = torch.Generator().manual_seed(zlib.crc32(name.encode()) + 4321)
    z = torch.randn(tuple(shape), generator=g, dtype=torch.float32)
    if name.endswith(".bias") or name == "final_logits_bias":
        return 0.1 * z
    if ("layer_norm" in name or "layernorm" in name) and name.endswith(".weight"):
        return 1.0 + 0.1 * z
    return 0.2 * z


def tensor_json(t: torch.Tensor, rows=None) -> dict:
    """Values to 7 significant digits (the tests compare at 1e-4); `rows`: only these rows of a matrix."""
    t = t.detach().to(torch.float64).contiguous()
    out = {"shape": list(t.shape)}
    if rows is not None:
        out["rows"] = rows
        t = t[rows]
    out["data"] = [float(f"{v:.7g}") for v in t.reshape(-1).tolist()]
    return out


GRAD_PARAMS = [
    "model.shared.weight",
    "model.encoder.embed_positions.weight",
    "model.encoder.layernorm_embedding.weight",
    "model.encoder.layers.0.self_attn.q_proj.weight",
    "model.decoder.embed_positions.weight",
    "model.decoder.layernorm_embedding.bias",
    "model.decoder.layers.1.encoder_attn.k_proj.weight",
    "model.decoder.layers.1.fc2.weight",
]


def main():
    os.makedirs(FOLDER, exist_ok=True)
    for f in ("vocab.json", "merges.txt"):
        shutil.copyfile(os.path.join(TOKENIZERS, "bpe-roberta", f), os.path.join(FOLDER, f))
    with open(os.path.join(TOKENIZERS, "bpe-roberta", "vocab.json")) as f:
        V = len(json.load(f))
    strings = json.load(open(os.path.join(TOKENIZERS, "strings.json")))["strings"]
    tok_golden = json.load(open(os.path.join(TOKENIZERS, "bpe-roberta", "golden.json")))
    ids_of = [s["special"]["ids"] for s in tok_golden["strings"]]

    config = ref.bart_config(vocab_size=V, d_model=32, encoder_layers=2, decoder_layers=2, num_hidden_layers=2,
                             encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=64, decoder_ffn_dim=64,
                             max_position_embeddings=64)
    with open(os.path.join(FOLDER, "config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
        f.write("\n")
    tok_cfg = {"add_prefix_space": False, "bos_token": "<s>", "cls_token": "<s>", "eos_token": "</s>", "errors": "replace",
               "mask_token": "<mask>", "model_max_length": 1024, "pad_token": "<pad>", "sep_token": "</s>",
               "tokenizer_class": "BartTokenizer", "trim_offsets": True, "unk_token": "<unk>"}
    with open(os.path.join(FOLDER, "tokenizer_config.json"), "w") as f:
        json.dump(tok_cfg, f, indent=2, sort_keys=True)
        f.write("\n")

    model = ref.BartForConditionalGeneration(config)
    shapes = {k: tuple(v.shape) for k, v in ref.checkpoint_state_dict(model).items()}
    tensors = {k: init_tensor(k, s) for k, s in sorted(shapes.items())}
    save_file(tensors, os.path.join(FOLDER, "model.safetensors"), metadata={"format": "pt"})
    tensors = load_file(os.path.join(FOLDER, "model.safetensors"))

    def build(dtype, **over):
        m = ref.BartForConditionalGeneration({**config, **over})
        with torch.no_grad():
            sd = m.state_dict()
            for k, v in tensors.items():
                sd[k].copy_(v)
        return m.to(dtype).eval()

    pad, start = config["pad_token_id"], config["decoder_start_token_id"]
    src_ids = [ids_of[i] for i in SOURCES]
    tgt_ids = [ids_of[i] for i in TARGETS]

    # forward: two sources (row 1 padded), labels padded with -100
    S = max(len(r) for r in src_ids[:2])
    T = max(len(r) for r in tgt_ids[:2])
    input_ids = [r + [pad] * (S - len(r)) for r in src_ids[:2]]
    attention_mask = [[1] * len(r) + [0] * (S - len(r)) for r in src_ids[:2]]
    labels = [r + [-100] * (T - len(r)) for r in tgt_ids[:2]]
    m64, m32 = build(torch.float64), build(torch.float32)
    outs = {}
    for name, m in (("f64", m64), ("f32", m32)):
        m.zero_grad(set_to_none=True)
        o = m(torch.tensor(input_ids), torch.tensor(attention_mask), labels=torch.tensor(labels))
        o["loss"].backward()
        outs[name] = o
    o = outs["f64"]
    p64 = dict(m64.named_parameters())
    used = sorted({t for r in input_ids + o["decoder_input_ids"].tolist() for t in r} | {3, V - 1})

    def rows_of(k):
        if k == "model.shared.weight":
            return used  # the rows the batch reads (pad included: its gradient is the tied lm_head's alone), two unused
        if k.endswith("embed_positions.weight"):
            return list(range(0, 2 + max(S, T) + 2))  # rows 0-1 are never read: zero gradient
        return None

    with torch.no_grad():
        scaled = build(torch.float64, scale_embedding=True)(torch.tensor(input_ids), torch.tensor(attention_mask), labels=torch.tensor(labels))
    forward = {
        "input_ids": input_ids, "attention_mask": attention_mask, "labels": labels,
        "decoder_input_ids": o["decoder_input_ids"].tolist(),
        "logits": tensor_json(o["logits"]),
        "encoder_last_hidden_state": tensor_json(o["encoder_last_hidden_state"]),
        "loss": float(f"{float(o['loss']):.12g}"),
        "grads": {k: tensor_json(p64[k].grad, rows_of(k)) for k in GRAD_PARAMS},
        # the first 64 vocabulary columns keep the golden small
        "scale_embedding_logits": tensor_json(scaled["logits"][:, :, :64]),
        "float32_max_abs_diff": {"logits": float(f"{float((o['logits'] - outs['f32']['logits'].double()).abs().max()):.3g}"),
                                 "loss": float(f"{abs(float(o['loss']) - float(outs['f32']['loss'])):.3g}")},
    }

    def next_logits_for(m, ids, mask):
        enc = m.encode(torch.tensor(ids), torch.tensor(mask))

        def f(dec):
            r = dec.shape[0] // enc.shape[0]
            with torch.no_grad():
                return m.decode(dec, enc.repeat_interleave(r, 0), torch.tensor(mask).repeat_interleave(r, 0))[:, -1, :]
        return f

    cases = []
    settings = [
        {"name": "greedy", "num_beams": 1, "max_new_tokens": 10},
        {"name": "beam4", "num_beams": 4, "max_new_tokens": 10},
        {"name": "beam3-lp0.6-no-repeat-2", "num_beams": 3, "max_new_tokens": 12, "length_penalty": 0.6, "no_repeat_ngram_size": 2},
        # the random model never ends by itself: with a token it favours as eos, min_length has something to hold back
        {"name": "greedy-eos998", "num_beams": 1, "max_new_tokens": 10, "eos_token_id": 998},
        {"name": "greedy-eos998-min-length-6", "num_beams": 1, "max_new_tokens": 10, "min_length": 6, "eos_token_id": 998},
        {"name": "beam2-eos998-min-length-5-lp2", "num_beams": 2, "max_new_tokens": 10, "min_length": 5, "length_penalty": 2.0, "eos_token_id": 998},
    ]
    with torch.no_grad():
        for s in settings:
            kw = {"max_length": 1 + s["max_new_tokens"], "eos_token_id": s.get("eos_token_id", config["eos_token_id"]), "pad_token_id": pad,
                  "no_repeat_ngram_size": s.get("no_repeat_ngram_size", 0), "min_length": s.get("min_length", 0),
                  "forced_bos_token_id": config["forced_bos_token_id"], "forced_eos_token_id": config["forced_eos_token_id"]}
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
            print(s["name"], s["sequences"], "float32 same" if s["float32_same"] else "FLOAT32 DIFFERS")

    golden = {
        "description": "BartForConditionalGeneration (scripts/bart_reference.py, HF 4.38) on test/fixtures/models/bart-tiny, float64",
        "checkpoint": "test/fixtures/models/bart-tiny",
        "tokenizer": {"sources": [strings[i] for i in SOURCES], "source_ids": src_ids, "targets": [strings[i] for i in TARGETS], "target_ids": tgt_ids},
        "forward": forward,
        "generate": {"input_ids": input_ids, "attention_mask": attention_mask, "cases": cases},
    }
    os.makedirs(os.path.dirname(GOLDEN), exist_ok=True)
    with open(GOLDEN, "w") as f:
        json.dump(golden, f, separators=(",", ":"), ensure_ascii=False)
        f.write("\n")
    print("wrote", os.path.relpath(GOLDEN, ROOT), os.path.getsize(GOLDEN), "bytes; vocab", V)


if __name__ == "__main__":
    main()
