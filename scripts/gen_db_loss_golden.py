"""DB loss golden (test/golden/text-detection/db-loss.json) from PaddleOCR's published formulas.

PaddleOCR's det_db_loss.py / det_basic_loss.py written out in torch (Paddle is not installable
here): BalanceLoss (negative ratio 3, a descending sort of the negatives' losses), MaskL1Loss,
DiceLoss, DBLoss's alpha 5 / beta 10 / k 50, with BCE (torch's binary_cross_entropy, log clamped at
-100) as the balanced loss, as in the DB paper. Float64; gradients by autograd with respect to the
shrink and threshold logits.

Run by hand with Debian's torch: /usr/bin/python3 scripts/gen_db_loss_golden.py
"""
import json
import os

import torch
import torch.nn.functional as F

torch.manual_seed(0)
B, H, W = 2, 12, 16
EPS = 1e-6


def balance_bce(pred, gt, mask, ratio=3):
    positive = gt * mask
    negative = (1 - gt) * mask
    pos_count = int(positive.sum())
    neg_count = int(min(negative.sum(), pos_count * ratio))
    loss = F.binary_cross_entropy(pred, gt, reduction="none")
    pos_loss = positive * loss
    neg_loss = (negative * loss).reshape(-1)
    if neg_count > 0:
        neg_loss = neg_loss.sort(descending=True)[0][:neg_count]
        return (pos_loss.sum() + neg_loss.sum()) / (pos_count + neg_count + EPS)
    return pos_loss.sum() / (pos_count + EPS)


def dice(pred, gt, mask):
    inter = (pred * gt * mask).sum()
    union = (pred * mask).sum() + (gt * mask).sum() + EPS
    return 1 - 2.0 * inter / union


def l1(pred, gt, mask):
    return ((pred - gt).abs() * mask).sum() / (mask.sum() + EPS)


def case(name, n_pos_rects, neg_heavy):
    zs = (torch.randn(B, H, W, dtype=torch.float64) * 2).requires_grad_()
    zt = torch.randn(B, H, W, dtype=torch.float64).requires_grad_()
    gt = torch.zeros(B, H, W, dtype=torch.float64)
    for b in range(B):
        for r in range(n_pos_rects):
            y0 = int(torch.randint(0, H - 3, ()))
            x0 = int(torch.randint(0, W - 5, ()))
            gt[b, y0:y0 + 3, x0:x0 + (6 if neg_heavy else 9)] = 1
    mask = (torch.rand(B, H, W) > 0.1).double()
    tmap = 0.3 + 0.4 * torch.rand(B, H, W, dtype=torch.float64)
    tmask = (torch.rand(B, H, W) > 0.5).double()
    P = torch.sigmoid(zs)
    T = torch.sigmoid(zt)
    binary = torch.reciprocal(1 + torch.exp(-50 * (P - T)))
    ls = balance_bce(P, gt, mask)
    lt = l1(T, tmap, tmask)
    lb = dice(binary, gt, mask)
    loss = 5 * ls + 10 * lt + lb
    gs, gt_ = torch.autograd.grad(loss, [zs, zt])
    # the probability-only form: 5 * balanced BCE + Dice on P
    zs2 = zs.detach().clone().requires_grad_()
    P2 = torch.sigmoid(zs2)
    lp = 5 * balance_bce(P2, gt, mask) + dice(P2, gt, mask)
    (gp,) = torch.autograd.grad(lp, [zs2])
    flat = lambda t: [float(v) for v in t.detach().reshape(-1)]
    return {
        "name": name, "shape": [B, H, W],
        "shrink_logits": flat(zs), "threshold_logits": flat(zt),
        "shrink_map": flat(gt), "shrink_mask": flat(mask), "threshold_map": flat(tmap), "threshold_mask": flat(tmask),
        "loss": float(loss), "loss_shrink_maps": float(ls), "loss_threshold_maps": float(lt), "loss_binary_maps": float(lb),
        "grad_shrink_logits": flat(gs), "grad_threshold_logits": flat(gt_),
        "prob_only_loss": float(lp), "prob_only_grad_shrink_logits": flat(gp),
        "negatives_kept": int(min(((1 - gt) * mask).sum(), (gt * mask).sum() * 3)),
    }


cases = [case("3 negatives per positive kept (OHEM active)", 1, True), case("more positives than a third of the negatives", 4, False)]
out = os.path.join(os.path.dirname(__file__), "..", "test", "golden", "text-detection", "db-loss.json")
with open(out, "w") as f:
    json.dump({"generator": "scripts/gen_db_loss_golden.py", "torch": torch.__version__, "cases": cases}, f)
    f.write("\n")
print("wrote", out, [(c["name"], c["loss"], c["negatives_kept"]) for c in cases])
