"""Tiny DeepSpeech folders and golden files (src/models/deepspeech.test.ts, src/graph/rnn.test.ts) from
torch 1.13 / torchaudio 0.13 (Debian): torchaudio.transforms.MelSpectrogram (center=False, HTK mels,
norm=None), torch.nn.Conv2d, Hardtanh(0, 20), torch.nn.GRU / torch.nn.LSTM (num_layers=2,
bidirectional, batch_first) over pack_padded_sequence, torch.nn.Linear, F.ctc_loss.

    /usr/bin/python3 scripts/gen_deepspeech_goldens.py      # ~2 s, deterministic

Writes test/fixtures/models/deepspeech-{gru,lstm}-tiny/{config.json, vocab.json, tokenizer_config.json,
preprocessor_config.json, model.safetensors} and test/golden/deepspeech/:
  <gru|lstm>.json       input, lengths, labels; float64 logits from the float32 weights; the CTC loss;
                        gradients of named parameters (sampled, with max |g| and L2 norm); gru.json
                        also holds torchaudio's mel filterbank
  rnn-<gru|lstm>.json   nn.GRU / nn.LSTM alone on a padded batch: weights, outputs (zeros on padding),
                        and the gradients of sum(out * w) for every weight
"""

from __future__ import annotations

import json
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchaudio
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from safetensors_io import save_file  # noqa: E402

ROOT = os.path.dirname(HERE)
MODELS = os.path.join(ROOT, "test", "fixtures", "models")
GOLDEN = os.path.join(ROOT, "test", "golden", "deepspeech")
SAMPLES = 48

VOCAB = ["<pad>", "<s>", "</s>", "<unk>", "|", "E", "T", "A", "O", "N", "I", "H", "S", "R", "D", "L"]

BASE = dict(
    model_type="deepspeech", architectures=["DeepSpeechForCTC"], sampling_rate=16000, n_fft=400, hop_length=160, n_mels=20,
    f_min=0.0, f_max=8000.0, conv_channels=[4, 4], conv_kernel_freq=[5, 3], conv_kernel_time=[5, 3], conv_stride_freq=[2, 2],
    conv_stride_time=[2, 1], rnn_hidden_size=8, rnn_layers=2, bidirectional=True, vocab_size=len(VOCAB), pad_token_id=0,
)
FOLDERS = {
    "deepspeech-gru-tiny": dict(config=dict(BASE, rnn_type="gru", ctc_loss_reduction="sum", ctc_zero_infinity=False), seed=1),
    "deepspeech-lstm-tiny": dict(config=dict(BASE, rnn_type="lstm", ctc_loss_reduction="mean", ctc_zero_infinity=True), seed=2),
}
CASES = [
    dict(name="gru", folder="deepspeech-gru-tiny", lengths=[3200, 2400], labels=["SHE HID", "NO"]),
    dict(name="lstm", folder="deepspeech-lstm-tiny", lengths=[2400, 3200], labels=["A DOT", "THE HAT"]),
]
GRADS = ["conv.0.weight", "conv.0.bias", "conv.1.weight", "rnn.weight_ih_l0", "rnn.weight_hh_l0", "rnn.bias_hh_l0",
         "rnn.weight_ih_l0_reverse", "rnn.weight_hh_l1_reverse", "rnn.bias_ih_l1", "lm_head.weight", "lm_head.bias"]


class DeepSpeech(nn.Module):
    def __init__(self, c: dict):
        super().__init__()
        self.c = c
        self.mel = torchaudio.transforms.MelSpectrogram(sample_rate=c["sampling_rate"], n_fft=c["n_fft"], hop_length=c["hop_length"], f_min=c["f_min"],
                                                        f_max=c["f_max"], n_mels=c["n_mels"], center=False, power=2.0, norm=None, mel_scale="htk")
        convs, f, ch = [], c["n_mels"], 1
        for i, out in enumerate(c["conv_channels"]):
            kf, kt = c["conv_kernel_freq"][i], c["conv_kernel_time"][i]
            convs.append(nn.Conv2d(ch, out, (kf, kt), stride=(c["conv_stride_freq"][i], c["conv_stride_time"][i]), padding=(kf // 2, kt // 2)))
            f = (f + 2 * (kf // 2) - kf) // c["conv_stride_freq"][i] + 1
            ch = out
        self.conv = nn.ModuleList(convs)
        rnn = nn.GRU if c["rnn_type"] == "gru" else nn.LSTM
        self.rnn = rnn(ch * f, c["rnn_hidden_size"], num_layers=c["rnn_layers"], bidirectional=c["bidirectional"], batch_first=True)
        self.lm_head = nn.Linear(c["rnn_hidden_size"] * (2 if c["bidirectional"] else 1), c["vocab_size"])

    def forward(self, x: torch.Tensor, lengths: torch.Tensor):
        c = self.c
        m = torch.log(self.mel(x) + 1e-6)                                   # (B, n_mels, T)
        B, _, T = m.shape
        length = (lengths - c["n_fft"]) // c["hop_length"] + 1
        mask = (torch.arange(T)[None] < length[:, None]).to(m.dtype)[:, None]  # (B, 1, T)
        count = mask.sum((1, 2), keepdim=True) * c["n_mels"]
        mean = (m * mask).sum((1, 2), keepdim=True) / count
        d = (m - mean) * mask
        var = (d * d).sum((1, 2), keepdim=True) / count
        h = (d / torch.sqrt(var + 1e-5))[:, None]                           # (B, 1, n_mels, T)
        for i, conv in enumerate(self.conv):
            h = F.hardtanh(conv(h), 0.0, 20.0)
            k = c["conv_kernel_time"][i]
            length = (length + 2 * (k // 2) - k) // c["conv_stride_time"][i] + 1
            h = h * (torch.arange(h.shape[3])[None] < length[:, None]).to(h.dtype)[:, None, None]
        B, C, Fr, T = h.shape
        seq = h.permute(0, 3, 1, 2).reshape(B, T, C * Fr)
        packed = pack_padded_sequence(seq, length, batch_first=True, enforce_sorted=False)
        out, _ = self.rnn(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=T)
        return self.lm_head(out), length


def write_json(path: str, obj, indent=1) -> None:
    with open(path, "w") as f:
        f.write(json.dumps(obj, indent=indent) + "\n")


def sample(g: torch.Tensor, k: int, n: int) -> dict:
    flat = g.flatten()
    idx = torch.randperm(flat.numel(), generator=torch.Generator().manual_seed(k))[: min(n, flat.numel())].sort().values
    return dict(index=idx.tolist(), value=flat[idx].tolist(), max_abs=float(flat.abs().max()), norm=float(flat.norm()))


def make_folder(name: str) -> dict:
    spec = FOLDERS[name]
    cfg = spec["config"]
    torch.manual_seed(spec["seed"])
    model = DeepSpeech(cfg)
    with torch.no_grad():
        for k, p in model.named_parameters():
            if p.dim() >= 2:
                p.mul_(2.0)  # sharper logits than torch's defaults test more
    tensors = {k: v.detach().float().contiguous() for k, v in model.state_dict().items() if not k.startswith("mel.")}
    d = os.path.join(MODELS, name)
    os.makedirs(d, exist_ok=True)
    save_file(dict(sorted(tensors.items())), os.path.join(d, "model.safetensors"), metadata={"format": "pt"})
    write_json(os.path.join(d, "config.json"), dict(sorted(cfg.items())))
    write_json(os.path.join(d, "vocab.json"), {t: i for i, t in enumerate(VOCAB)})
    write_json(os.path.join(d, "tokenizer_config.json"), dict(bos_token="<s>", do_lower_case=False, eos_token="</s>", pad_token="<pad>", tokenizer_class="Wav2Vec2CTCTokenizer", unk_token="<unk>", word_delimiter_token="|"))
    write_json(os.path.join(d, "preprocessor_config.json"), dict(do_normalize=True, feature_extractor_type="Wav2Vec2FeatureExtractor", feature_size=1, padding_side="right", padding_value=0.0, processor_class="Wav2Vec2Processor", return_attention_mask=True, sampling_rate=16000))
    return dict(model=model, cfg=cfg)


def run(case: dict, folder: dict) -> dict:
    cfg = folder["cfg"]
    model = folder["model"].double().train()
    B, N = len(case["lengths"]), max(case["lengths"])
    x = torch.randn(B, N, generator=torch.Generator().manual_seed(7)).float()
    for b, n in enumerate(case["lengths"]):
        x[b, n:] = 0.0
    ids = {t: i for i, t in enumerate(VOCAB)}
    labels = [[ids["|" if ch == " " else ch] for ch in s] for s in case["labels"]]
    model.zero_grad()
    logits, out_lengths = model(x.double(), torch.tensor(case["lengths"]))
    lp = F.log_softmax(logits, dim=-1).transpose(0, 1)
    flat = torch.tensor([i for l in labels for i in l])
    loss = F.ctc_loss(lp, flat, out_lengths, torch.tensor([len(l) for l in labels]), blank=cfg["pad_token_id"], reduction=cfg["ctc_loss_reduction"], zero_infinity=cfg["ctc_zero_infinity"])
    loss.backward()
    named = dict(model.named_parameters())
    grads = {k: sample(named[k].grad, i, SAMPLES) for i, k in enumerate(GRADS)}
    out = dict(name=case["name"], folder=case["folder"], input_values=x.flatten().tolist(), shape=[B, N], lengths=case["lengths"], labels=case["labels"],
               label_ids=labels, logits=logits.detach().flatten().tolist(), logits_shape=list(logits.shape), frame_lengths=out_lengths.tolist(),
               loss=float(loss), grads=grads)
    if case["name"] == "gru":
        out["mel_fb"] = model.mel.mel_scale.fb.flatten().tolist()
    model.float()
    return out


def rnn_golden(kind: str) -> dict:
    torch.manual_seed(11 if kind == "gru" else 12)
    In, H, T, lengths = 3, 4, 5, [5, 3]
    rnn = (nn.GRU if kind == "gru" else nn.LSTM)(In, H, num_layers=2, bidirectional=True, batch_first=True).double()
    with torch.no_grad():
        for p in rnn.parameters():
            p.copy_(p.float().double() * 2)
    x = torch.randn(len(lengths), T, In, generator=torch.Generator().manual_seed(3)).float().double()
    packed = pack_padded_sequence(x, torch.tensor(lengths), batch_first=True, enforce_sorted=False)
    out, _ = rnn(packed)
    out, _ = pad_packed_sequence(out, batch_first=True, total_length=T)
    w = torch.randn(out.shape, generator=torch.Generator().manual_seed(4)).float().double()
    (out * w).sum().backward()
    return dict(kind=kind, input=x.flatten().tolist(), shape=[len(lengths), T, In], hidden=H, lengths=lengths, weight=w.flatten().tolist(),
                output=out.detach().flatten().tolist(), params={k: p.detach().flatten().tolist() for k, p in rnn.named_parameters()},
                grads={k: p.grad.flatten().tolist() for k, p in rnn.named_parameters()})


def main() -> None:
    torch.set_num_threads(1)
    os.makedirs(GOLDEN, exist_ok=True)
    folders = {name: make_folder(name) for name in FOLDERS}
    for case in CASES:
        g = run(case, folders[case["folder"]])
        path = os.path.join(GOLDEN, f"{case['name']}.json")
        write_json(path, g, indent=None)
        print(f"{path}: logits {g['logits_shape']} frames {g['frame_lengths']} loss {g['loss']:.6f}")
    for kind in ["gru", "lstm"]:
        path = os.path.join(GOLDEN, f"rnn-{kind}.json")
        write_json(path, rnn_golden(kind), indent=None)
        print(path)


if __name__ == "__main__":
    main()
