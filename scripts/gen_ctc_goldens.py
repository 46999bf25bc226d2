"""CTC loss goldens (src/graph/ctc.test.ts) from torch.nn.functional.ctc_loss (Debian torch 1.13).

    /usr/bin/python3 scripts/gen_ctc_goldens.py      # < 1 s, deterministic

Writes test/golden/ctc/ctc.json: per case the float32 logits (B, T, C), targets (B, L) padded with
-1, input and target lengths, blank, reduction and zero_infinity, and in float64 the loss
(F.ctc_loss on log_softmax(logits), torch's layout (T, B, C)) and d loss / d logits. Rows whose loss
is inf without zero_infinity have NaN gradients in torch; they are written as null.
"""

from __future__ import annotations

import json
import math
import os

import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "test", "golden", "ctc", "ctc.json")

CASES = [
    dict(name="variable lengths, repeats, an empty target", B=3, T=12, C=6, blank=0, scale=1.0,
         targets=[[2, 2, 3, 1], [5, 4, 5], []], input_lengths=[12, 9, 7], reduction="mean", zero_infinity=False),
    dict(name="sum reduction, blank last", B=2, T=8, C=5, blank=4, scale=1.5,
         targets=[[0, 1, 0], [3, 3]], input_lengths=[8, 6], reduction="sum", zero_infinity=False),
    dict(name="none reduction, a target as long as the input", B=2, T=6, C=4, blank=0, scale=1.0,
         targets=[[1, 2, 3, 1, 2, 3], [1, 1, 2]], input_lengths=[6, 6], reduction="none", zero_infinity=False),
    dict(name="impossible alignment, zero_infinity", B=3, T=6, C=4, blank=0, scale=1.0,
         targets=[[1, 1, 1], [2, 3], [1, 1, 2, 2]], input_lengths=[4, 6, 5], reduction="mean", zero_infinity=True),
    dict(name="impossible alignment, inf", B=2, T=6, C=4, blank=0, scale=1.0,
         targets=[[1, 1, 1], [2, 3]], input_lengths=[4, 6], reduction="none", zero_infinity=False),
    dict(name="long input, peaked logits", B=2, T=60, C=8, blank=0, scale=12.0,
         targets=[[1, 2, 3, 4, 5, 6, 7, 1, 2, 3], [7, 7, 7, 3]], input_lengths=[60, 41], reduction="mean", zero_infinity=False),
]


def run(case: dict, seed: int) -> dict:
    g = torch.Generator().manual_seed(seed)
    B, T, C = case["B"], case["T"], case["C"]
    logits32 = (torch.randn(B, T, C, generator=g) * case["scale"]).float()
    L = max(1, max(len(t) for t in case["targets"]))
    targets = torch.full((B, L), -1, dtype=torch.long)
    for b, t in enumerate(case["targets"]):
        targets[b, : len(t)] = torch.tensor(t, dtype=torch.long)
    tl = torch.tensor([len(t) for t in case["targets"]], dtype=torch.long)
    il = torch.tensor(case["input_lengths"], dtype=torch.long)
    x = logits32.double().requires_grad_()
    lp = x.log_softmax(-1).transpose(0, 1)  # (T, B, C)
    # torch reads padded targets only up to each length; -1 never reaches it
    safe = targets.clamp(min=0)
    loss = F.ctc_loss(lp, safe, il, tl, blank=case["blank"], reduction=case["reduction"], zero_infinity=case["zero_infinity"])
    (loss.sum() if loss.dim() else loss).backward()
    grad = x.grad.detach()
    grads = []
    for b in range(B):
        row = grad[b]
        grads.append(None if bool(torch.isnan(row).any()) else row.flatten().tolist())
    lv = loss.detach().flatten().tolist()
    return dict(
        name=case["name"], blank=case["blank"], reduction=case["reduction"], zero_infinity=case["zero_infinity"],
        shape=[B, T, C], logits=logits32.flatten().tolist(), targets=targets.flatten().tolist(), target_shape=[B, L],
        input_lengths=case["input_lengths"], target_lengths=tl.tolist(),
        loss=[v if math.isfinite(v) else "inf" for v in lv], grad=grads,
    )


def main() -> None:
    torch.set_num_threads(1)
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    cases = [run(c, 100 + i) for i, c in enumerate(CASES)]
    with open(OUT, "w") as f:
        json.dump({"generator": "scripts/gen_ctc_goldens.py", "torch": torch.__version__, "cases": cases}, f)
        f.write("\n")
    print(f"wrote {OUT} ({os.path.getsize(OUT)} bytes)")
    for c in cases:
        print(c["name"], c["loss"])


if __name__ == "__main__":
    main()
