"""The tiny T5 fixture folders and their goldens.

    /usr/bin/python3 scripts/gen_t5_goldens.py     (needs Debian's python3-sentencepiece)

Writes two Hugging Face folders laid out as t5-small / google/t5-v1_1-small ship:
- test/fixtures/models/t5-tiny: v1.0 (ReLU feed-forward `wi`/`wo`, tied embeddings with the
  d_model**-0.5 rescale), 2 + 2 blocks, d_model 32, 4 heads of d_kv 8, 8 buckets, max distance 16;
  tokenizer_config.json and a tokenizer.json written as HF's T5Converter would from spiece.model
  (Precompiled + Replace(" {2,}") normalizer, Metaspace, Unigram, "$A </s>" post-processor); the
  spiece.model itself is left out to keep the fixtures small (the v1.1 folder has it).
- test/fixtures/models/t5-v1_1-tiny: v1.1 (gated-GELU `wi_0`/`wi_1`, untied lm_head), 2 encoder and
  3 decoder blocks, 4 heads of d_kv 6 (inner 24 != d_model 32); spiece.model only (the slow path).
spiece.model: a SentencePiece unigram model (200 pieces, nmt_nfkc, pad 0 / eos 1 / unk 2, no bos,
as T5's) trained by python3-sentencepiece on the en-de finetune split of data/gettext; the
vocabulary is extended by 100 <extra_id_N> and config vocab_size padded to 320 (t5-small: 32000 +
100 -> 32128). Weights: float32 N(0, 0.2) seeded by name; shared / lm_head N(0, 0.5);
relative_attention_bias N(0, 0.5); layer norms 1 + N(0, 0.1).

test/golden/t5/t5.json per variant: tokenizer ids (T5Tokenizer's rules over sentencepiece,
scripts/t5_reference.py), forward (logits, encoder output, loss, gradients of
scripts/t5_reference.py in float64, labels shifted right with -100 -> pad) and generation (greedy
and beam, scripts/generation_reference.py, re-running the decoder each step, float64).
"""

from __future__ import annotations

import base64
import json
import os
import sys
import tempfile

import sentencepiece as spm
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import seq2seq_reference_common as common  # noqa: E402
import t5_reference as ref  # noqa: E402

ROOT = os.path.dirname(HERE)
GOLDEN = os.path.join(ROOT, "test", "golden", "t5", "t5.json")
CORPUS = os.path.join(ROOT, "data", "gettext", "en-de.finetune.tsv")
EXTRA_IDS = 100
VOCAB = 320

SOURCES = ["translate English to German: Cannot open file", "translate English to German: The file could not be saved.",
           "Show hidden files"]
TARGETS = ["Datei kann nicht geöffnet werden", "Größe ändern", "Einstellungen"]
# tokenizer strings: NFKC folding, umlauts, unknown characters, extra ids, digits
TOKENIZER_STRINGS = SOURCES + TARGETS + ["ﬁle ① ＡＢＣ", "Fehler: 日本 x", "The <extra_id_0> walks in <extra_id_1> park",
                                         "Print 42 pages", "Ça marche"]

VARIANTS = {
    "t5-tiny": dict(d_model=32, d_kv=8, d_ff=64, num_layers=2, num_decoder_layers=2, num_heads=4,
                    relative_attention_num_buckets=8, relative_attention_max_distance=16, feed_forward_proj="relu",
                    tie_word_embeddings=True, vocab_size=VOCAB, n_positions=64),
    "t5-v1_1-tiny": dict(d_model=32, d_kv=6, d_ff=48, num_layers=2, num_decoder_layers=3, num_heads=4,
                         relative_attention_num_buckets=8, relative_attention_max_distance=16,
                         feed_forward_proj="gated-gelu", tie_word_embeddings=False, vocab_size=VOCAB, n_positions=64,
                         architectures=["T5ForConditionalGeneration"]),
}


def train_spm(tmp: str) -> bytes:
    lines = []
    with open(CORPUS, encoding="utf-8") as f:
        next(f)
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) >= 2:
                lines += parts[:2]
    txt = os.path.join(tmp, "corpus.txt")
    with open(txt, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    prefix = os.path.join(tmp, "spiece")
    spm.SentencePieceTrainer.train(input=txt, model_prefix=prefix, vocab_size=200, model_type="unigram",
                                   character_coverage=0.9995, pad_id=0, eos_id=1, unk_id=2, bos_id=-1,
                                   num_threads=1, input_sentence_size=0, shuffle_input_sentence=False, minloglevel=2)
    with open(prefix + ".model", "rb") as f:
        return f.read()


def fields(buf: bytes):
    """(field number, wire type, value) of a protobuf message (python3-protobuf is not installed)."""
    i = 0
    while i < len(buf):
        key, i = varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = varint(buf, i)
        elif wt == 1:
            v, i = buf[i:i + 8], i + 8
        elif wt == 2:
            n, i = varint(buf, i)
            v, i = buf[i:i + n], i + n
        elif wt == 5:
            v, i = buf[i:i + 4], i + 4
        else:
            raise ValueError(f"wire type {wt}")
        yield num, wt, v


def varint(buf: bytes, i: int):
    out, shift = 0, 0
    while True:
        b = buf[i]
        i += 1
        out |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return out, i


def precompiled_charsmap(model_bytes: bytes) -> bytes:
    """ModelProto.normalizer_spec (field 3) .precompiled_charsmap (field 2)."""
    for num, _, v in fields(model_bytes):
        if num == 3:
            for n2, _, v2 in fields(v):
                if n2 == 2:
                    return bytes(v2)
    return b""


def tokenizer_json(sp, model_bytes: bytes) -> dict:
    """What transformers' T5Converter (convert_slow_tokenizer.py) builds from spiece.model."""
    charsmap = base64.b64encode(precompiled_charsmap(model_bytes)).decode()
    n = sp.get_piece_size()
    vocab = [[sp.id_to_piece(i), sp.get_score(i)] for i in range(n)] + [[f"<extra_id_{i}>", 0.0] for i in range(EXTRA_IDS - 1, -1, -1)]
    added = [{"id": i, "content": sp.id_to_piece(i), "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True} for i in (0, 1, 2)]
    added += [{"id": n + EXTRA_IDS - 1 - i, "content": f"<extra_id_{i}>", "single_word": False, "lstrip": True,
               "rstrip": True, "normalized": False, "special": True} for i in range(EXTRA_IDS)]
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": sorted(added, key=lambda a: a["id"]),
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Precompiled", "precompiled_charsmap": charsmap},
            {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "}]},
        "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581", "add_prefix_space": True, "prepend_scheme": "always"},
        "post_processor": {"type": "TemplateProcessing",
                           "single": [{"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}}],
                           "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}},
                                    {"Sequence": {"id": "B", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}}],
                           "special_tokens": {"</s>": {"id": "</s>", "ids": [1], "tokens": ["</s>"]}}},
        "decoder": {"type": "Metaspace", "replacement": "\u2581", "add_prefix_space": True, "prepend_scheme": "always"},
        "model": {"type": "Unigram", "unk_id": 2, "vocab": vocab, "byte_fallback": False},
    }


def init_tensor(name: str, shape) -> torch.Tensor:
    z = common.seeded_randn(name, shape, 1234)
    if "layer_norm" in name:
        return 1.0 + 0.1 * z
    if name in ("shared.weight", "lm_head.weight") or "relative_attention_bias" in name:
        return 0.5 * z
    return 0.2 * z


def grad_params(c: dict) -> list:
    ff = "wi_0" if c["is_gated_act"] else "wi"
    out = ["shared.weight",
           "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight",
           "encoder.block.0.layer.0.SelfAttention.q.weight",
           "encoder.block.1.layer.1.layer_norm.weight",
           f"encoder.block.1.layer.1.DenseReluDense.{ff}.weight",
           "encoder.final_layer_norm.weight",
           "decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight",
           "decoder.block.1.layer.1.EncDecAttention.k.weight",
           "decoder.block.1.layer.2.DenseReluDense.wo.weight",
           "decoder.final_layer_norm.weight"]
    if c["is_gated_act"]:
        out.append("encoder.block.0.layer.1.DenseReluDense.wi_1.weight")
    if not c["tie_word_embeddings"]:
        out.append("lm_head.weight")
    return out


def variant(name: str, overrides: dict, model_bytes: bytes, sp) -> dict:
    folder = os.path.join(ROOT, "test", "fixtures", "models", name)
    os.makedirs(folder, exist_ok=True)
    if name != "t5-tiny":
        with open(os.path.join(folder, "spiece.model"), "wb") as f:
            f.write(model_bytes)
    common.write_json(os.path.join(folder, "tokenizer_config.json"), {
        "additional_special_tokens": [f"<extra_id_{i}>" for i in range(EXTRA_IDS)], "eos_token": "</s>",
        "extra_ids": EXTRA_IDS, "model_max_length": 512, "pad_token": "<pad>", "tokenizer_class": "T5Tokenizer",
        "unk_token": "<unk>"})
    if name == "t5-tiny":
        with open(os.path.join(folder, "tokenizer.json"), "w", encoding="utf-8") as f:
            json.dump(tokenizer_json(sp, model_bytes), f, ensure_ascii=False)
            f.write("\n")
    config = ref.t5_config(**overrides)
    common.write_json(os.path.join(folder, "config.json"), config)
    build = common.write_checkpoint(folder, ref.T5ForConditionalGeneration, config, ref.checkpoint_state_dict, init_tensor)

    tok = ref.T5TokenizerRef(sp, EXTRA_IDS)
    src_ids = [tok.ids(s) for s in SOURCES]
    tgt_ids = [tok.ids(t) for t in TARGETS]
    pad = config["pad_token_id"]
    input_ids, attention_mask, labels = common.padded_batch(src_ids, tgt_ids, pad)
    m64, m32 = build(torch.float64), build(torch.float32)
    forward = common.forward_golden(
        m64, m32, input_ids, attention_mask, labels, grad_params(config),
        lambda k, used: sorted(used | {1, 7, VOCAB - 1}) if k in ("shared.weight", "lm_head.weight") else None)

    settings = [
        {"name": "greedy", "num_beams": 1, "max_new_tokens": 20},
        {"name": "beam4", "num_beams": 4, "max_new_tokens": 20},
        {"name": "beam3-lp0.6-no-repeat-2", "num_beams": 3, "max_new_tokens": 20, "length_penalty": 0.6, "no_repeat_ngram_size": 2},
    ]
    cases = common.generation_cases(
        m64, m32, input_ids, attention_mask, config["decoder_start_token_id"], settings,
        lambda s: {"max_length": 1 + s["max_new_tokens"], "eos_token_id": config["eos_token_id"], "pad_token_id": pad,
                   "no_repeat_ngram_size": s.get("no_repeat_ngram_size", 0)},
        label=(name,))
    return {
        "checkpoint": os.path.relpath(folder, ROOT),
        "tokenizer": {"sources": SOURCES, "source_ids": src_ids, "targets": TARGETS, "target_ids": tgt_ids},
        "forward": forward,
        "generate": {"input_ids": input_ids, "attention_mask": attention_mask, "cases": cases},
    }


def buckets(num_buckets: int, max_distance: int, span: int) -> dict:
    rel = torch.arange(-span, span + 1)
    return {"config": [num_buckets, max_distance], "relative": rel.tolist(),
            "bidirectional": ref.relative_position_bucket(rel, True, num_buckets, max_distance).tolist(),
            "causal": ref.relative_position_bucket(rel, False, num_buckets, max_distance).tolist()}


def main():
    with tempfile.TemporaryDirectory() as tmp:
        model_bytes = train_spm(tmp)
    sp = spm.SentencePieceProcessor(model_proto=model_bytes)
    tok = ref.T5TokenizerRef(sp, EXTRA_IDS)
    golden = {
        "description": "T5ForConditionalGeneration (scripts/t5_reference.py, HF 4.38) on the tiny folders, float64",
        "tokenizer": {"strings": TOKENIZER_STRINGS, "ids": [tok.ids(s) for s in TOKENIZER_STRINGS],
                      "decoded": [sp.decode(sp.encode(s)) for s in TOKENIZER_STRINGS],
                      "sp_size": sp.get_piece_size(), "extra_ids": EXTRA_IDS},
        "buckets": [buckets(8, 16, 40), buckets(32, 128, 600)],
        "variants": {name: variant(name, o, model_bytes, sp) for name, o in VARIANTS.items()},
    }
    common.write_golden(GOLDEN, golden, ROOT)


if __name__ == "__main__":
    main()
