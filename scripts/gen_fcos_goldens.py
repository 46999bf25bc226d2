"""Golden files for torchvision's FCOS (src/models/fcos.test.ts, src/models/fcos-network.test.ts).

    /usr/bin/python3 scripts/gen_fcos_goldens.py [loss|network|keys ...]     # ~1 min (float64)

Writes test/golden/detection/fcos.json (the network), fcos_loss.json (matching, loss, post-processing)
and fcos_keys.json (the state_dict keys and shapes at 91 classes).

No weights are shipped: every parameter and buffer comes from the hash formula of
scripts/gen_vision_goldens.py (src/models/vision-weights.ts), and so do the images and head outputs.

fcos.json: torchvision 0.14's fcos_resnet50_fpn graph (ResNet-50 body, FPN on layer2..4 with
LastLevelP6P7 from P5, FCOSHead with GroupNorm(32)) built as the builder does for fine-tuning
(FrozenBatchNorm2d in the backbone, trainable_backbone_layers=5), K=3 classes, min_size=max_size=128,
two 128x128 images in [0, 1] (name "input", 0.5 + 0.5 u). Recorded: the transform's normalised
batch (sampled), the head outputs cls_logits / bbox_regression / bbox_ctrness (sampled, per level),
the training loss dict for fixed target boxes and gradients of its sum for named parameters.

fcos_loss.json: no network. Anchors of a 384x512 batch (FCOS's AnchorGenerator: sizes 8..128, one
per location), head outputs from the formula (names "cls", "reg", "ctr"), fixed targets with boxes of
every scale: FCOS.compute_loss's matched indices per anchor (center sampling radius 1.5, scale
ranges per level), the loss dict and its gradients with respect to the head outputs; then
postprocess_detections (score_thresh 0.4, topk_candidates 100, nms_thresh 0.6, detections_per_img
50) and GeneralizedRCNNTransform.postprocess to the original sizes; and the transform's resize of a
non-square image (min_size 128, max_size 200) with its boxes.
"""

from __future__ import annotations

import json
import os
import sys
import warnings

import torch
from torchvision.models import resnet50
from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
from torchvision.models.detection.fcos import FCOS
from torchvision.ops import misc as misc_nn_ops
from torchvision.ops.feature_pyramid_network import LastLevelP6P7

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_vision_goldens import det_uniform, fill_deterministic  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "test", "golden", "detection")
SAMPLES = 300
K = 3

warnings.filterwarnings("ignore")
torch.set_num_threads(2)


def build(num_classes: int, **kw) -> FCOS:
    """fcos_resnet50_fpn's body with the norm layer it uses for pretrained weights."""
    backbone = resnet50(weights=None, norm_layer=misc_nn_ops.FrozenBatchNorm2d)
    backbone = _resnet_fpn_extractor(backbone, 5, returned_layers=[2, 3, 4], extra_blocks=LastLevelP6P7(256, 256))
    return FCOS(backbone, num_classes, **kw)


def sampled(t: torch.Tensor) -> dict:
    flat = t.detach().reshape(-1)
    n = flat.numel()
    idx = [(j * n) // SAMPLES + (j * 7919) % max(1, n // SAMPLES) for j in range(min(SAMPLES, n))]
    return {"shape": list(t.shape), "indices": idx, "values": [float(flat[i]) for i in idx], "max_abs": float(flat.abs().max()), "l2": float(flat.norm())}


def det(name: str, shape, scale: float, offset: float = 0.0) -> torch.Tensor:
    n = 1
    for s in shape:
        n *= s
    return torch.from_numpy(det_uniform(name, n, scale, offset)).reshape(shape).double()


NET_TARGETS = [
    {"boxes": [[10.0, 12.0, 50.0, 40.0], [60.5, 30.0, 120.0, 110.0], [20.0, 70.0, 44.0, 126.0]], "labels": [0, 2, 1]},
    {"boxes": [[5.0, 5.0, 100.0, 90.0], [70.0, 80.0, 90.0, 100.0]], "labels": [1, 1]},
]
NET_GRADS = [
    "backbone.body.conv1.weight",
    "backbone.body.layer3.2.conv2.weight",
    "backbone.fpn.inner_blocks.2.0.weight",
    "backbone.fpn.layer_blocks.0.0.bias",
    "backbone.fpn.extra_blocks.p6.weight",
    "head.classification_head.conv.0.weight",
    "head.classification_head.conv.1.weight",
    "head.classification_head.cls_logits.bias",
    "head.regression_head.conv.10.bias",
    "head.regression_head.bbox_reg.weight",
    "head.regression_head.bbox_ctrness.weight",
]


def to_targets(ts):
    return [{"boxes": torch.tensor(t["boxes"], dtype=torch.float64), "labels": torch.tensor(t["labels"], dtype=torch.int64)} for t in ts]


def network() -> dict:
    S = 128
    model = build(K, min_size=S, max_size=S).double()
    fill_deterministic(model)
    model = model.double()
    images = det("input", (2, 3, S, S), 0.5, 0.5)
    weights = {n: [float(v) for v in p.reshape(-1)[:4]] for n, p in model.named_parameters() if n in NET_GRADS[:3]}
    model.train()
    il, _ = model.transform(list(images), None)
    feats = list(model.backbone(il.tensors).values())
    head = model.head(feats)
    levels = [f.shape[-2] * f.shape[-1] for f in feats]
    out = {k: sampled(v) for k, v in head.items()}
    losses = model(list(images), to_targets(NET_TARGETS))
    total = sum(losses.values())
    params = dict(model.named_parameters())
    gs = torch.autograd.grad(total, [params[n] for n in NET_GRADS])
    return {
        "num_classes": K,
        "image_size": S,
        "batch": 2,
        "input": {"name": "input", "scale": 0.5, "offset": 0.5},
        "param_count": sum(p.numel() for p in model.parameters()),
        "param_count_coco": sum(p.numel() for p in build(91).parameters()),
        "weight_checks": weights,
        "normalised": sampled(il.tensors),
        "levels": levels,
        "head": out,
        "targets": NET_TARGETS,
        "losses": {k: float(v) for k, v in losses.items()},
        "grads": {n: sampled(g) for n, g in zip(NET_GRADS, gs)},
    }


LOSS_TARGETS = [
    {"boxes": [[3.0, 4.0, 20.0, 30.0], [40.0, 50.0, 140.0, 130.0], [100.0, 20.0, 500.0, 370.0], [250.0, 200.0, 330.0, 380.0], [300.5, 10.25, 310.0, 18.0]], "labels": [0, 1, 2, 3, 1]},
    {"boxes": [[0.0, 0.0, 512.0, 384.0], [10.0, 300.0, 200.0, 380.0], [400.0, 100.0, 470.0, 160.0]], "labels": [3, 0, 2]},
    {"boxes": [], "labels": []},
]


def loss_and_postprocess() -> dict:
    H, W, KL = 384, 512, 4
    model = build(KL, min_size=H, max_size=W, score_thresh=0.4, topk_candidates=100, nms_thresh=0.6, detections_per_img=50).double()
    levels = [(H // s) * (W // s) for s in (8, 16, 32, 64, 128)]
    A = sum(levels)
    B = len(LOSS_TARGETS)
    feats = [torch.zeros(B, 256, H // s, W // s, dtype=torch.float64) for s in (8, 16, 32, 64, 128)]
    from torchvision.models.detection.image_list import ImageList

    il = ImageList(torch.zeros(B, 3, H, W, dtype=torch.float64), [(H, W)] * B)
    anchors = model.anchor_generator(il, feats)
    cls = det("cls", (B, A, KL), 3.0, -2.0).requires_grad_()
    reg = det("reg", (B, A, 4), 0.5, 1.0).requires_grad_()
    ctr = det("ctr", (B, A, 1), 2.0).requires_grad_()
    head = {"cls_logits": cls, "bbox_regression": reg, "bbox_ctrness": ctr}
    targets = to_targets(LOSS_TARGETS)
    for t in targets:
        t["boxes"] = t["boxes"].reshape(-1, 4)
    # the matched indices, as FCOS.compute_loss computes them before calling the head's
    captured = {}
    orig = model.head.compute_loss

    def spy(targets, head_outputs, anchors, matched_idxs):
        captured["m"] = matched_idxs
        return orig(targets, head_outputs, anchors, matched_idxs)

    model.head.compute_loss = spy
    losses = model.compute_loss(targets, head, anchors, levels)
    total = sum(losses.values())
    g = torch.autograd.grad(total, [cls, reg, ctr])
    matched = [[int(v) for v in m] for m in captured["m"]]
    model.eval()
    with torch.no_grad():
        split = {k: list(v.split(levels, dim=1)) for k, v in head.items()}
        split_anchors = [list(a.split(levels)) for a in anchors]
        dets = model.postprocess_detections(split, split_anchors, [(H, W)] * B)
        originals = [(480, 640), (384, 512), (200, 300)]
        dets = model.transform.postprocess(dets, [(H, W)] * B, originals)
    # the transform's resize: a 3 x 90 x 150 image, min_size 128, max_size 200 (the max binds)
    tr = build(KL, min_size=128, max_size=200).transform
    tr.eval()
    img = det("resize_input", (3, 90, 150), 0.5, 0.5)
    box = {"boxes": torch.tensor([[10.0, 20.0, 100.0, 80.0]], dtype=torch.float64), "labels": torch.tensor([1])}
    tr.train()
    il2, t2 = tr([img], [box])
    return {
        "image_size": [H, W],
        "num_classes": KL,
        "levels": levels,
        "targets": LOSS_TARGETS,
        "head": {"cls": {"name": "cls", "scale": 3.0, "offset": -2.0}, "reg": {"name": "reg", "scale": 0.5, "offset": 1.0}, "ctr": {"name": "ctr", "scale": 2.0, "offset": 0.0}},
        "anchors_first": [[float(v) for v in a[:3].reshape(-1)] for a in anchors[0].split(levels)],
        "matched": matched,
        "losses": {k: float(v) for k, v in losses.items()},
        "grads": {"cls": sampled(g[0]), "reg": sampled(g[1]), "ctr": sampled(g[2])},
        "postprocess": {"score_thresh": 0.4, "topk_candidates": 100, "nms_thresh": 0.6, "detections_per_img": 50, "original_sizes": originals},
        "detections": [{"boxes": [[float(v) for v in b] for b in d["boxes"]], "scores": [float(v) for v in d["scores"]], "labels": [int(v) for v in d["labels"]]} for d in dets],
        "resize": {
            "input": {"name": "resize_input", "shape": [3, 90, 150], "scale": 0.5, "offset": 0.5},
            "min_size": 128,
            "max_size": 200,
            "image_size": list(il2.image_sizes[0]),
            "batch_shape": list(il2.tensors.shape),
            "normalised": sampled(il2.tensors[0]),
            "boxes": [[float(v) for v in b] for b in t2[0]["boxes"]],
        },
    }


def write(name: str, obj: dict) -> None:
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, name)
    with open(path + ".tmp", "w") as f:
        json.dump(obj, f, separators=(",", ":"))
    os.replace(path + ".tmp", path)
    print(f"{path}: {os.path.getsize(path)} bytes")


def keys() -> dict:
    """The state_dict keys and shapes of fcos_resnet50_fpn(num_classes=91) as built for fine-tuning."""
    return {"keys": {k: list(v.shape) for k, v in build(91).state_dict().items()}}


if __name__ == "__main__":
    which = sys.argv[1:] or ["loss", "network", "keys"]
    if "loss" in which:
        write("fcos_loss.json", loss_and_postprocess())
    if "network" in which:
        write("fcos.json", network())
    if "keys" in which:
        write("fcos_keys.json", keys())
