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

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import bart_reference as ref  # noqa: E402
import seq2seq_reference_common as common  # noqa: E402

ROOT = os.path.dirname(HERE)
FOLDER = os.path.join(ROOT, "test", "fixtures", "models", "bart-tiny")
TOKENIZERS = os.path.join(ROOT, "test", "fixtures", "tokenizers")
GOLDEN = os.path.join(ROOT, "test", "golden", "bart", "bart.json")

# indices into test/fixtures/tokenizers/strings.json
SOURCES = [0, 23, 1]
TARGETS = [51, 0, 24]


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
    common.write_json(os.path.join(FOLDER, "config.json"), config)
    common.write_json(os.path.join(FOLDER, "tokenizer_config.json"), {
        "add_prefix_space": False, "bos_token": "<s>", "cls_token": "<s>", "eos_token": "</s>", "errors": "replace",
        "mask_token": "<mask>", "model_max_length": 1024, "pad_token": "<pad>", "sep_token": "</s>",
        "tokenizer_class": "BartTokenizer", "trim_offsets": True, "unk_token": "<unk>"})
    build = common.write_checkpoint(FOLDER, ref.BartForConditionalGeneration, config, ref.checkpoint_state_dict,
                                    lambda k, s: common.post_ln_init(k, s, 4321))

    pad, start = config["pad_token_id"], config["decoder_start_token_id"]
    src_ids = [ids_of[i] for i in SOURCES]
    tgt_ids = [ids_of[i] for i in TARGETS]

    # forward: two sources (row 1 padded), labels padded with -100
    input_ids, attention_mask, labels = common.padded_batch(src_ids, tgt_ids, pad)
    S, T = len(input_ids[0]), len(labels[0])
    m64, m32 = build(torch.float64), build(torch.float32)

    def rows_of(k, used):
        if k == "model.shared.weight":
            return sorted(used | {3, V - 1})  # the rows the batch reads (pad included: its gradient is the tied lm_head's alone), two unused
        if k.endswith("embed_positions.weight"):
            return list(range(0, 2 + max(S, T) + 2))  # rows 0-1 are never read: zero gradient
        return None

    with torch.no_grad():
        scaled = build(torch.float64, scale_embedding=True)(torch.tensor(input_ids), torch.tensor(attention_mask), labels=torch.tensor(labels))
    # digits: 7 (the tests compare at 1e-4); the first 64 vocabulary columns keep the golden small
    forward = common.forward_golden(m64, m32, input_ids, attention_mask, labels, GRAD_PARAMS, rows_of, digits=7,
                                    extra={"scale_embedding_logits": common.tensor_json(scaled["logits"][:, :, :64], digits=7)})

    settings = [
        {"name": "greedy", "num_beams": 1, "max_new_tokens": 10},
        {"name": "beam4", "num_beams": 4, "max_new_tokens": 10},
        {"name": "beam3-lp0.6-no-repeat-2", "num_beams": 3, "max_new_tokens": 12, "length_penalty": 0.6, "no_repeat_ngram_size": 2},
        # the random model never ends by itself: with a token it favours as eos, min_length has something to hold back
        {"name": "greedy-eos998", "num_beams": 1, "max_new_tokens": 10, "eos_token_id": 998},
        {"name": "greedy-eos998-min-length-6", "num_beams": 1, "max_new_tokens": 10, "min_length": 6, "eos_token_id": 998},
        {"name": "beam2-eos998-min-length-5-lp2", "num_beams": 2, "max_new_tokens": 10, "min_length": 5, "length_penalty": 2.0, "eos_token_id": 998},
    ]
    cases = common.generation_cases(
        m64, m32, input_ids, attention_mask, start, settings,
        lambda s: {"max_length": 1 + s["max_new_tokens"], "eos_token_id": s.get("eos_token_id", config["eos_token_id"]), "pad_token_id": pad,
                   "no_repeat_ngram_size": s.get("no_repeat_ngram_size", 0), "min_length": s.get("min_length", 0),
                   "forced_bos_token_id": config["forced_bos_token_id"], "forced_eos_token_id": config["forced_eos_token_id"]})

    golden = {
        "description": "BartForConditionalGeneration (scripts/bart_reference.py, HF 4.38) on test/fixtures/models/bart-tiny, float64",
        "checkpoint": "test/fixtures/models/bart-tiny",
        "tokenizer": {"sources": [strings[i] for i in SOURCES], "source_ids": src_ids, "targets": [strings[i] for i in TARGETS], "target_ids": tgt_ids},
        "forward": forward,
        "generate": {"input_ids": input_ids, "attention_mask": attention_mask, "cases": cases},
    }
    common.write_golden(GOLDEN, golden, ROOT, f"; vocab {V}")


if __name__ == "__main__":
    main()
