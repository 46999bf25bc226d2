"""Tiny Wav2Vec2ForCTC folders and golden files (src/models/wav2vec2.test.ts) from torchaudio 0.13's
wav2vec2_model (Debian), which computes Hugging Face's Wav2Vec2ForCTC: torchaudio's own HF importer
(torchaudio.models.wav2vec2.utils.import_huggingface) loads HF's state dicts into it one to one:

    wav2vec2.feature_extractor.*  <->  feature_extractor.*
    wav2vec2.feature_projection.* <->  encoder.feature_projection.*
    wav2vec2.encoder.*            <->  encoder.transformer.*   (pos_conv_embed.conv.weight_g/_v: torch 1.13 weight_norm, dim=2)
    lm_head.*                     <->  aux.*

    /usr/bin/python3 scripts/gen_wav2vec2_goldens.py      # ~2 s, deterministic

Writes test/fixtures/models/wav2vec2-{group,layer}-tiny/{config.json, vocab.json, tokenizer_config.json,
preprocessor_config.json, model.safetensors} as transformers' save_pretrained lays them out, and
test/golden/wav2vec2/<name>.json: input values, lengths, labels; float64 logits from the float32
weights; the CTC loss as Wav2Vec2ForCTC computes it (log_softmax, blank = pad_token_id, the config's
ctc_loss_reduction and ctc_zero_infinity, input lengths from the attention mask); gradients of named
parameters (sampled, with max |g| and L2 norm).
"""

from __future__ import annotations

import json
import os
import sys

import torch
import torch.nn.functional as F
from torchaudio.models import wav2vec2_model

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from safetensors_io import save_file  # noqa: E402

ROOT = os.path.dirname(HERE)
MODELS = os.path.join(ROOT, "test", "fixtures", "models")
GOLDEN = os.path.join(ROOT, "test", "golden", "wav2vec2")
SAMPLES = 48

VOCAB = ["<pad>", "<s>", "</s>", "<unk>", "|", "E", "T", "A", "O", "N", "I", "H", "S", "R", "D", "L"]

BASE = dict(
    activation_dropout=0.0, apply_spec_augment=True, attention_dropout=0.0, bos_token_id=1, conv_dim=[16, 16, 16],
    conv_kernel=[10, 3, 3], conv_stride=[5, 2, 2], ctc_loss_reduction="sum", ctc_zero_infinity=False, eos_token_id=2,
    feat_extract_activation="gelu", feat_proj_dropout=0.0, final_dropout=0.0, hidden_act="gelu", hidden_dropout=0.0,
    hidden_size=64, initializer_range=0.02, intermediate_size=128, layer_norm_eps=1e-5, layerdrop=0.0, mask_time_length=10,
    mask_time_prob=0.05, model_type="wav2vec2", num_attention_heads=4, num_conv_pos_embedding_groups=4,
    num_conv_pos_embeddings=16, num_feat_extract_layers=3, num_hidden_layers=2, pad_token_id=0,
    vocab_size=len(VOCAB), architectures=["Wav2Vec2ForCTC"],
)

FOLDERS = {
    # wav2vec2-base style: GroupNorm on the first conv only, post-LN encoder, no attention mask
    "wav2vec2-group-tiny": dict(config=dict(BASE, feat_extract_norm="group", conv_bias=False, do_stable_layer_norm=False), mask=False, seed=1),
    # wav2vec2-large-lv60 style: LayerNorm in every conv, conv bias, pre-LN ("stable") encoder, attention mask,
    # an odd positional kernel (no frame dropped), mean CTC reduction with zero_infinity
    "wav2vec2-layer-tiny": dict(config=dict(BASE, feat_extract_norm="layer", conv_bias=True, do_stable_layer_norm=True, num_conv_pos_embeddings=15,
                                            ctc_loss_reduction="mean", ctc_zero_infinity=True, feat_extract_activation="gelu"), mask=True, seed=2),
}

CASES = [
    dict(name="group", folder="wav2vec2-group-tiny", lengths=[800, 800], labels=["THE HAT", "A DOT"]),
    dict(name="layer", folder="wav2vec2-layer-tiny", lengths=[800, 560], labels=["SHE HID", "NO"]),
]
GRADS = [
    "wav2vec2.feature_extractor.conv_layers.0.conv.weight", "wav2vec2.feature_extractor.conv_layers.0.layer_norm.weight",
    "wav2vec2.feature_extractor.conv_layers.2.conv.weight", "wav2vec2.feature_projection.layer_norm.weight",
    "wav2vec2.feature_projection.projection.weight", "wav2vec2.encoder.pos_conv_embed.conv.weight_g",
    "wav2vec2.encoder.pos_conv_embed.conv.weight_v", "wav2vec2.encoder.pos_conv_embed.conv.bias", "wav2vec2.encoder.layer_norm.weight",
    "wav2vec2.encoder.layers.0.attention.q_proj.weight", "wav2vec2.encoder.layers.1.attention.v_proj.bias",
    "wav2vec2.encoder.layers.1.feed_forward.intermediate_dense.weight", "wav2vec2.encoder.layers.1.final_layer_norm.bias",
    "lm_head.weight", "lm_head.bias",
]


def hf_key(k: str) -> str:
    if k.startswith("feature_extractor."):
        return "wav2vec2." + k
    if k.startswith("encoder.feature_projection."):
        return "wav2vec2." + k[len("encoder."):]
    if k.startswith("encoder.transformer."):
        return "wav2vec2.encoder." + k[len("encoder.transformer."):]
    if k.startswith("aux."):
        return "lm_head." + k[len("aux."):]
    raise KeyError(k)


def build(cfg: dict):
    return wav2vec2_model(
        extractor_mode=f"{cfg['feat_extract_norm']}_norm", extractor_conv_layer_config=list(zip(cfg["conv_dim"], cfg["conv_kernel"], cfg["conv_stride"])),
        extractor_conv_bias=cfg["conv_bias"], encoder_embed_dim=cfg["hidden_size"], encoder_projection_dropout=0.0,
        encoder_pos_conv_kernel=cfg["num_conv_pos_embeddings"], encoder_pos_conv_groups=cfg["num_conv_pos_embedding_groups"],
        encoder_num_layers=cfg["num_hidden_layers"], encoder_num_heads=cfg["num_attention_heads"], encoder_attention_dropout=0.0,
        encoder_ff_interm_features=cfg["intermediate_size"], encoder_ff_interm_dropout=0.0, encoder_dropout=0.0,
        encoder_layer_norm_first=cfg["do_stable_layer_norm"], encoder_layer_drop=0.0, aux_num_out=cfg["vocab_size"],
    )


def write_json(path: str, obj) -> None:
    with open(path, "w") as f:
        f.write(json.dumps(obj, indent=1) + "\n")


def make_folder(name: str) -> dict:
    spec = FOLDERS[name]
    cfg = spec["config"]
    torch.manual_seed(spec["seed"])
    model = build(cfg)
    with torch.no_grad():
        for k, p in model.named_parameters():
            # norms and biases away from 1/0 so that a swapped or missing one shows
            if "layer_norm" in k and k.endswith("weight"):
                p.copy_(1 + 0.2 * torch.randn_like(p))
            elif k.endswith("bias") or "layer_norm" in k:
                p.copy_(0.1 * torch.randn_like(p))
            elif k.endswith("weight_g"):
                p.mul_(1 + 0.2 * torch.rand_like(p))
            elif p.dim() >= 2:
                p.mul_(2.0)  # default inits give near-uniform posteriors; sharper logits test more
    tensors = {hf_key(k): v.detach().float().contiguous() for k, v in model.state_dict().items()}
    # HF keeps SpecAugment's learned mask vector (unused at inference) whenever mask_time_prob > 0
    tensors["wav2vec2.masked_spec_embed"] = torch.rand(cfg["hidden_size"], generator=torch.Generator().manual_seed(3)).float()
    d = os.path.join(MODELS, name)
    os.makedirs(d, exist_ok=True)
    save_file(dict(sorted(tensors.items())), os.path.join(d, "model.safetensors"), metadata={"format": "pt"})
    write_json(os.path.join(d, "config.json"), {**dict(sorted(cfg.items())), "torch_dtype": "float32", "transformers_version": "4.46.0"})
    write_json(os.path.join(d, "vocab.json"), {t: i for i, t in enumerate(VOCAB)})
    write_json(os.path.join(d, "tokenizer_config.json"), dict(bos_token="<s>", do_lower_case=False, eos_token="</s>", pad_token="<pad>", tokenizer_class="Wav2Vec2CTCTokenizer", unk_token="<unk>", word_delimiter_token="|"))
    write_json(os.path.join(d, "preprocessor_config.json"), dict(do_normalize=True, feature_extractor_type="Wav2Vec2FeatureExtractor", feature_size=1, padding_side="right", padding_value=0.0, processor_class="Wav2Vec2Processor", return_attention_mask=spec["mask"], sampling_rate=16000))
    return dict(model=model, tensors=tensors, cfg=cfg, mask=spec["mask"])


def sample(g: torch.Tensor, k: int, n: int) -> dict:
    flat = g.flatten()
    idx = torch.randperm(flat.numel(), generator=torch.Generator().manual_seed(k))[: min(n, flat.numel())].sort().values
    return dict(index=idx.tolist(), value=flat[idx].tolist(), max_abs=float(flat.abs().max()), norm=float(flat.norm()))


def run(case: dict, folder: dict) -> dict:
    cfg = folder["cfg"]
    model = folder["model"].double().train()
    B, N = len(case["lengths"]), max(case["lengths"])
    x = torch.randn(B, N, generator=torch.Generator().manual_seed(7)).float()
    lengths = torch.tensor(case["lengths"])
    for b, n in enumerate(case["lengths"]):
        x[b, n:] = 0.0
    ids = {t: i for i, t in enumerate(VOCAB)}
    labels = [[ids["|" if ch == " " else ch] for ch in s] for s in case["labels"]]
    L = max(len(l) for l in labels)
    lab = torch.full((B, L), -100, dtype=torch.long)
    for b, l in enumerate(labels):
        lab[b, : len(l)] = torch.tensor(l)
    model.zero_grad()
    logits, out_lengths = model(x.double(), lengths if folder["mask"] else None)
    if out_lengths is None:
        out_lengths = torch.full((B,), logits.shape[1], dtype=torch.long)
    mask = lab >= 0
    lp = F.log_softmax(logits, dim=-1).transpose(0, 1)
    loss = F.ctc_loss(lp, lab.masked_select(mask), out_lengths, mask.sum(-1), blank=cfg["pad_token_id"], reduction=cfg["ctc_loss_reduction"], zero_infinity=cfg["ctc_zero_infinity"])
    loss.backward()
    named = {hf_key(k): p for k, p in model.named_parameters()}
    grads = {k: sample(named[k].grad, i, SAMPLES) for i, k in enumerate(GRADS) if k in named}
    model.float()
    return dict(
        name=case["name"], folder=case["folder"], input_values=x.flatten().tolist(), shape=[B, N], lengths=case["lengths"],
        use_mask=folder["mask"], labels=case["labels"], label_ids=labels, logits=logits.detach().flatten().tolist(),
        logits_shape=list(logits.shape), frame_lengths=out_lengths.tolist(), loss=float(loss), grads=grads,
    )


def main() -> None:
    torch.set_num_threads(1)
    os.makedirs(GOLDEN, exist_ok=True)
    folders = {name: make_folder(name) for name in FOLDERS}
    for case in CASES:
        g = run(case, folders[case["folder"]])
        path = os.path.join(GOLDEN, f"{case['name']}.json")
        with open(path, "w") as f:
            json.dump(g, f)
            f.write("\n")
        print(f"{path}: logits {g['logits_shape']} frames {g['frame_lengths']} loss {g['loss']:.6f}")


if __name__ == "__main__":
    main()
