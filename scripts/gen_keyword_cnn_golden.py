"""Golden file for the keyword CNN (src/models/keyword-cnn.ts, checked in keyword-cnn.test.ts).

    /usr/bin/python3 scripts/gen_keyword_cnn_golden.py      # ~1 s

Writes test/golden/audio/keyword-cnn.json. The network is written here in PyTorch as the reference
(there is no upstream checkpoint: the family is finetune's own baseline), with the module paths of
the TypeScript model as state-dict keys, so the weights come from the deterministic formula of
src/models/vision-weights.ts (det_uniform / det_spec of gen_vision_goldens.py) on both sides and
nothing is stored. The input is log-mel frames (B, frames, 32), from the same formula under the
name "input" (scale 2): the mel front-end (openWakeWord's melspectrogram.onnx) is checked in
speech-embedding.test.ts, not here.

  eval:  logits in eval mode (BatchNorm running statistics)
  train: logits and cross-entropy loss in train mode (batch statistics), gradients of named
         parameters (at most 128 entries each, with max |g| and L2 norm), and blocks.0.bn.running_mean after that forward
Reference values in float64 from the float32 weights.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_vision_goldens import det_uniform, fill_deterministic  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "test", "golden", "audio", "keyword-cnn.json")
CHANNELS = [16, 32, 64, 64]
NUM_CLASSES = 5
BATCH, FRAMES, BINS = 3, 97, 32
LABELS = [0, 3, 4]
GRADS = ["blocks.0.conv.weight", "blocks.0.bn.weight", "blocks.2.bn.bias", "blocks.3.conv.weight", "classifier.weight", "classifier.bias"]


class ConvBlock(nn.Module):
    def __init__(self, cin: int, cout: int, pool: bool):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.pool = pool

    def forward(self, x):
        y = F.relu(self.bn(self.conv(x)))
        return F.max_pool2d(y, 2) if self.pool else y


class KeywordCnn(nn.Module):
    def __init__(self, channels, num_classes):
        super().__init__()
        self.blocks = nn.ModuleList([ConvBlock(1 if i == 0 else channels[i - 1], c, i < len(channels) - 1) for i, c in enumerate(channels)])
        self.classifier = nn.Linear(channels[-1], num_classes)

    def forward(self, mel):  # (B, frames, 32)
        x = mel.unsqueeze(1)  # (B, 1, frames, 32)
        for b in self.blocks:
            x = b(x)
        return self.classifier(x.mean(dim=(2, 3)))


def grad_golden(g: torch.Tensor) -> dict:
    """At most 128 entries at evenly spaced indices, with the full gradient's max |g| and L2 norm."""
    flat = g.flatten()
    idx = sorted(set(np.linspace(0, flat.numel() - 1, min(128, flat.numel())).round().astype(int).tolist()))
    return {"shape": list(g.shape), "indices": idx, "values": flat[idx].tolist(), "max_abs": flat.abs().max().item(), "l2": flat.norm().item()}


def main() -> None:
    torch.manual_seed(0)
    m = KeywordCnn(CHANNELS, NUM_CLASSES)
    fill_deterministic(m)
    m = m.double()
    mel = torch.from_numpy(det_uniform("input", BATCH * FRAMES * BINS, 2.0).astype(np.float64)).reshape(BATCH, FRAMES, BINS)
    labels = torch.tensor(LABELS)
    m.eval()
    with torch.no_grad():
        eval_logits = m(mel)
    m.train()
    logits = m(mel)
    loss = F.cross_entropy(logits, labels)
    loss.backward()
    params = dict(m.named_parameters())
    out = {
        "channels": CHANNELS,
        "num_classes": NUM_CLASSES,
        "input": {"name": "input", "scale": 2.0, "shape": [BATCH, FRAMES, BINS]},
        "labels": LABELS,
        "param_count": sum(p.numel() for p in m.parameters()),
        "eval": {"logits": eval_logits.flatten().tolist()},
        "train": {
            "logits": logits.detach().flatten().tolist(),
            "loss": loss.item(),
            "grads": {k: grad_golden(params[k].grad) for k in GRADS},
            "running_mean": m.blocks[0].bn.running_mean.tolist(),
        },
        "generator": "scripts/gen_keyword_cnn_golden.py (torch %s)" % torch.__version__,
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(out, f)
    print(f"wrote {OUT}: loss {loss.item():.6f}, {out['param_count']} parameters")


if __name__ == "__main__":
    main()
