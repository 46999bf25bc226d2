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

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import marian_reference as ref  # noqa: E402
import seq2seq_reference_common as common  # noqa: E402

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
    common.write_json(os.path.join(FOLDER, "config.json"), config)
    common.write_json(os.path.join(FOLDER, "tokenizer_config.json"), {
        "eos_token": "</s>", "model_max_length": 512, "pad_token": "<pad>", "separate_vocabs": False,
        "source_lang": "en", "sp_model_kwargs": {}, "target_lang": "de", "tokenizer_class": "MarianTokenizer",
        "unk_token": "<unk>"})
    build = common.write_checkpoint(FOLDER, ref.MarianMTModel, config, ref.checkpoint_state_dict,
                                    lambda k, s: common.post_ln_init(k, s, 1234))

    tok = ref.MarianTokenizerRef(os.path.join(FOLDER, "vocab.json"))
    src_ids = [tok.ids(s, pieces_of(src_spm)) for s in SOURCES]
    tgt_ids = [tok.ids(t, pieces_of(tgt_spm)) for t in TARGETS]

    # forward: two sources (row 1 padded), labels padded with -100
    input_ids, attention_mask, labels = common.padded_batch(src_ids, tgt_ids, pad)
    m64, m32 = build(torch.float64), build(torch.float32)
    # the embedding gradient on the rows the batch uses (pad = decoder start: zero, as padding_idx
    # makes it), the eos row and two unused rows
    forward = common.forward_golden(m64, m32, input_ids, attention_mask, labels, GRAD_PARAMS,
                                    lambda k, used: sorted(used | {0, 5, V - 2}) if k == "model.shared.weight" else None)

    # generation: the first two sources as a padded batch
    settings = [
        {"name": "greedy", "num_beams": 1, "max_new_tokens": 10},
        {"name": "beam4", "num_beams": 4, "max_new_tokens": 10},
        {"name": "beam3-lp0.6-no-repeat-2", "num_beams": 3, "max_new_tokens": 12, "length_penalty": 0.6, "no_repeat_ngram_size": 2},
    ]
    cases = common.generation_cases(
        m64, m32, input_ids, attention_mask, config["decoder_start_token_id"], settings,
        lambda s: {"max_length": 1 + s["max_new_tokens"], "eos_token_id": config["eos_token_id"], "pad_token_id": pad,
                   "no_repeat_ngram_size": s.get("no_repeat_ngram_size", 0),
                   "forced_eos_token_id": config["forced_eos_token_id"], "bad_words_ids": [pad]})

    golden = {
        "description": "MarianMTModel (scripts/marian_reference.py, HF 4.38) on test/fixtures/models/marian-tiny, float64",
        "checkpoint": "test/fixtures/models/marian-tiny",
        "tokenizer": {"sources": SOURCES, "source_ids": src_ids, "targets": TARGETS, "target_ids": tgt_ids},
        "forward": forward,
        "generate": {"input_ids": input_ids, "attention_mask": attention_mask, "cases": cases},
    }
    common.write_golden(GOLDEN, golden, ROOT, f"; vocab {V}")


if __name__ == "__main__":
    main()
