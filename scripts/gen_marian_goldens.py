"""The tiny Marian fixture folder and its goldens.

    /usr/bin/python3 scripts/gen_marian_goldens.py     (needs Debian's `sentencepiece` for spm_train/spm_encode)

Writes test/fixtures/models/marian-tiny/ as an opus-mt folder is laid out: config.json,
model.safetensors (random float32 weights seeded by name: weights N(0, 0.2), biases and
final_logits_bias N(0, 0.1), LayerNorm weights 1 + N(0, 0.1)), source.spm and target.spm (unigram,
250 pieces each, trained by spm_train on the en-de finetune split of data/gettext), vocab.json (the
union of both piece lists, "</s>" 0, "<unk>" 1, "<pad>" last, as opus-mt vocabularies are),
tokenizer_config.json; and test/golden/marian/marian.json:

- tokenizer: source ids (`tokenizer(text)`) and target ids (`tokenizer(text_target=...)`) from
  spm_encode's pieces mapped by MarianTokenizer's rules (scripts/marian_reference.py).
- forward: logits, encoder output, loss and gradients of MarianMTModel (scripts/marian_reference.py)
  in float64 for a padded batch with labels (decoder inputs = labels shifted right as HF does).
- generate: greedy and beam-search sequences (scripts/generation_reference.py, HF 4.38 logic) with
  the config's forced_eos_token_id and bad_words_ids, in float64, re-running the decoder each step.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zlib

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import generation_reference as gen  # noqa: E402
import marian_reference as ref  # noqa: E402
from safetensors_io import load_file, save_file  # noqa: E402

ROOT = os.path.dirname(HERE)
FOLDER = os.path.join(ROOT, "test", "fixtures", "models", "marian-tiny")
GOLDEN = os.path.join(ROOT, "test", "golden", "marian", "marian.json")
CORPUS = os.path.join(ROOT, "data", "gettext", "en-de.finetune.tsv")

SOURCES = ["Cannot open file", "The file could not be saved.", ">>de<< Show hidden files"]
TARGETS = ["Datei kann nicht geöffnet werden", "Größe ändern", "Einstellungen"]


def train_spm(tmp: str, column: int, name: str) -> str:
    lines = []
    with open(CORPUS, encoding="utf-8") as f:
        next(f)
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) >= 2 and not parts[column].startswith('"'):
                lines.append(parts[column])
    txt = os.path.join(tmp, f"{name}.txt")
    with open(txt, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    prefix = os.path.join(tmp, name)
    subprocess.run(["spm_train", f"--input={txt}", f"--model_prefix={prefix}", "--vocab_size=250", "--model_type=unigram",
                    "--character_coverage=1.0", "--normalization_rule_name=identity", "--num_threads=1",
                    "--minloglevel=2"], check=True, capture_output=True)
    out = os.path.join(FOLDER, f"{name}.spm")
    with open(prefix + ".model", "rb") as a, open(out, "wb") as b:
        b.write(a.read())
    return out


def pieces_of(model: str):
    def run(text: str) -> list:
        r = subprocess.run(["spm_encode", f"--model={model}", "--output_format=piece"], input=text + "\n",
                           capture_output=True, text=True, check=True)
        return r.stdout.rstrip("\n").split(" ") if r.stdout.strip() else []
    return run


def spm_pieces(model: str) -> list:
    r = subprocess.run(["spm_export_vocab", f"--model={model}"], capture_output=True, text=True, check=True)
    return [line.split("\t")[0] for line in r.stdout.splitlines()]


def init_tensor(name: str, shape) -> torch.Tensor:
    g = torch.Generator().manual_seed(zlib.crc32(name.encode()) + 1234)
    z = torch.randn(tuple(shape), generator=g, dtype=torch.float32)
    if name.endswith(".bias") or name == "final_logits_bias":
        return 0.1 * z
    if "layer_norm" in name and name.endswith(".weight"):
        return 1.0 + 0.1 * z
    return 0.2 * z


def tensor_json(t: torch.Tensor, rows=None) -> dict:
    """Values to 9 significant digits; `rows`: only these rows of a matrix (the golden stays small)."""
    t = t.detach().to(torch.float64).contiguous()
    out = {"shape": list(t.shape)}
    if rows is not None:
        out["rows"] = rows
        t = t[rows]
    out["data"] = [float(f"{v:.9g}") for v in t.reshape(-1).tolist()]
    return out


GRAD_PARAMS = [
    "model.shared.weight",
    "model.encoder.layers.0.self_attn.q_proj.weight",
    "model.encoder.layers.1.final_layer_norm.weight",
    "model.decoder.layers.0.self_attn.v_proj.bias",
    "model.decoder.layers.1.encoder_attn.k_proj.weight",
    "model.decoder.layers.1.fc2.weight",
]


def main():
    import tempfile

    os.makedirs(FOLDER, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        src_spm = train_spm(tmp, 0, "source")
        tgt_spm = train_spm(tmp, 1, "target")
    vocab = {"</s>": 0, "<unk>": 1}
    for p in spm_pieces(src_spm) + spm_pieces(tgt_spm):
        if p not in ("<unk>", "<s>", "</s>") and p not in vocab:
            vocab[p] = len(vocab)
    vocab["<pad>"] = len(vocab)
    V = len(vocab)
    pad = V - 1
    with open(os.path.join(FOLDER, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False, indent=1)
        f.write("\n")
    config = ref.marian_config(vocab_size=V, decoder_vocab_size=V, d_model=32, encoder_layers=2, decoder_layers=2,
                               num_hidden_layers=2, encoder_attention_heads=4, decoder_attention_heads=4,
                               encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=64, pad_token_id=pad,
                               decoder_start_token_id=pad, bad_words_ids=[[pad]], max_length=64)
    with open(os.path.join(FOLDER, "config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
        f.write("\n")
    tok_cfg = {"eos_token": "</s>", "model_max_length": 512, "pad_token": "<pad>", "separate_vocabs": False,
               "source_lang": "en", "sp_model_kwargs": {}, "target_lang": "de", "tokenizer_class": "MarianTokenizer",
               "unk_token": "<unk>"}
    with open(os.path.join(FOLDER, "tokenizer_config.json"), "w") as f:
        json.dump(tok_cfg, f, indent=2, sort_keys=True)
        f.write("\n")

    model = ref.MarianMTModel(config)
    shapes = {k: tuple(v.shape) for k, v in ref.checkpoint_state_dict(model).items()}
    tensors = {k: init_tensor(k, s) for k, s in sorted(shapes.items())}
    save_file(tensors, os.path.join(FOLDER, "model.safetensors"), metadata={"format": "pt"})
    tensors = load_file(os.path.join(FOLDER, "model.safetensors"))

    def build(dtype):
        m = ref.MarianMTModel(config)
        with torch.no_grad():
            sd = m.state_dict()
            for k, v in tensors.items():
                sd[k].copy_(v)
        return m.to(dtype).eval()

    tok = ref.MarianTokenizerRef(os.path.join(FOLDER, "vocab.json"))
    src_ids = [tok.ids(s, pieces_of(src_spm)) for s in SOURCES]
    tgt_ids = [tok.ids(t, pieces_of(tgt_spm)) for t in TARGETS]

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
    forward = {
        "input_ids": input_ids, "attention_mask": attention_mask, "labels": labels,
        "decoder_input_ids": o["decoder_input_ids"].tolist(),
        "logits": tensor_json(o["logits"]),
        "encoder_last_hidden_state": tensor_json(o["encoder_last_hidden_state"]),
        "loss": float(f"{float(o['loss']):.12g}"),
        # the embedding gradient on the rows the batch uses (pad = decoder start: zero, as padding_idx
        # makes it), the eos row and two unused rows
        "grads": {k: tensor_json(p64[k].grad, sorted({t for r in input_ids + o["decoder_input_ids"].tolist() for t in r} | {0, 5, V - 2}) if k == "model.shared.weight" else None) for k in GRAD_PARAMS},
        "float32_max_abs_diff": {"logits": float(f"{float((o['logits'] - outs['f32']['logits'].double()).abs().max()):.3g}"),
                                 "loss": float(f"{abs(float(o['loss']) - float(outs['f32']['loss'])):.3g}")},
    }

    # generation: each source alone and the first two as a padded batch
    def next_logits_for(m, ids, mask):
        enc = m.encode(torch.tensor(ids), torch.tensor(mask))

        def f(dec):
            # generate repeats each input's encoder output for its beams (_expand_inputs_for_generation)
            r = dec.shape[0] // enc.shape[0]
            with torch.no_grad():
                return m.decode(dec, enc.repeat_interleave(r, 0), torch.tensor(mask).repeat_interleave(r, 0))[:, -1, :]
        return f

    cases = []
    settings = [
        {"name": "greedy", "num_beams": 1, "max_new_tokens": 10},
        {"name": "beam4", "num_beams": 4, "max_new_tokens": 10},
        {"name": "beam3-lp0.6-no-repeat-2", "num_beams": 3, "max_new_tokens": 12, "length_penalty": 0.6, "no_repeat_ngram_size": 2},
    ]
    batch_ids = input_ids
    with torch.no_grad():
        for s in settings:
            kw = {"max_length": 1 + s["max_new_tokens"], "eos_token_id": config["eos_token_id"], "pad_token_id": pad,
                  "no_repeat_ngram_size": s.get("no_repeat_ngram_size", 0),
                  "forced_eos_token_id": config["forced_eos_token_id"], "bad_words_ids": [pad]}
            for m, key in ((m64, "sequences"), (m32, "sequences_float32")):
                f = next_logits_for(m, batch_ids, attention_mask)
                start = [[config["decoder_start_token_id"]] for _ in batch_ids]
                if s["num_beams"] > 1:
                    seqs = gen.beam_search(f, start, num_beams=s["num_beams"], length_penalty=s.get("length_penalty", 1.0),
                                           early_stopping=False, **kw)
                else:
                    seqs = gen.greedy(f, start, **kw)
                s[key] = seqs
            s["float32_same"] = s["sequences"] == s["sequences_float32"]
            del s["sequences_float32"]
            cases.append(s)
            print(s["name"], s["sequences"], "float32 same" if s["float32_same"] else "FLOAT32 DIFFERS")

    golden = {
        "description": "MarianMTModel (scripts/marian_reference.py, HF 4.38) on test/fixtures/models/marian-tiny, float64",
        "checkpoint": "test/fixtures/models/marian-tiny",
        "tokenizer": {"sources": SOURCES, "source_ids": src_ids, "targets": TARGETS, "target_ids": tgt_ids},
        "forward": forward,
        "generate": {"input_ids": batch_ids, "attention_mask": attention_mask, "cases": cases},
    }
    os.makedirs(os.path.dirname(GOLDEN), exist_ok=True)
    with open(GOLDEN, "w") as f:
        json.dump(golden, f, separators=(",", ":"), ensure_ascii=False)
        f.write("\n")
    print("wrote", os.path.relpath(GOLDEN, ROOT), os.path.getsize(GOLDEN), "bytes; vocab", V)


if __name__ == "__main__":
    main()
