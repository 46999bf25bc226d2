"""Golden files for torchvision's RetinaNet (src/models/retinanet.test.ts, src/models/retinanet-network.test.ts).

    /usr/bin/python3 scripts/gen_retinanet_goldens.py [loss|network|keys ...]     # ~1 min (float64)

Writes test/golden/detection/retinanet.json (the network), retinanet_loss.json (anchors, matching,
loss, post-processing) and retinanet_keys.json (the state_dict keys and shapes at 91 classes).

No weights are shipped: every parameter and buffer comes from the hash formula of
scripts/gen_vision_goldens.py (src/models/vision-weights.ts), and so do the images and head outputs.

retinanet.json: torchvision 0.14's retinanet_resnet50_fpn (v1) graph (ResNet-50 body with
FrozenBatchNorm2d, FPN on layer2..4 with LastLevelP6P7 from P5, RetinaNetHead without norm) built
as the builder does for fine-tuning (trainable_backbone_layers=5), K=3 classes,
min_size=max_size=128, two 128x128 images in [0, 1] (name "input", 0.5 + 0.5 u). Recorded: head
outputs cls_logits / bbox_regression (sampled), the training loss dict for fixed target boxes and
gradients of its sum for named parameters.

retinanet_loss.json: no network. Anchors of a 384x512 batch (_default_anchorgen: sizes 32..512 x 3
scales x aspect ratios 0.5, 1, 2), head outputs from the formula (names "cls", "reg"), fixed targets
with boxes of every scale (one image without boxes): RetinaNet.compute_loss's matched indices
(Matcher(0.5, 0.4, allow_low_quality_matches=True); only the entries other than -1 are stored), the
loss dict and its gradients with respect to the head outputs; then postprocess_detections
(score_thresh 0.3, topk_candidates 200, nms_thresh 0.5, detections_per_img 100) and
GeneralizedRCNNTransform.postprocess to the original sizes.
"""

from __future__ import annotations

import json
import os
import sys
import warnings

import torch
from torchvision.models import resnet50
from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.retinanet import RetinaNet
from torchvision.ops import misc as misc_nn_ops
from torchvision.ops.feature_pyramid_network import LastLevelP6P7

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_fcos_goldens import det, sampled, to_targets, write  # noqa: E402
from gen_vision_goldens import fill_deterministic  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "test", "golden", "detection")
K = 3

warnings.filterwarnings("ignore")
torch.set_num_threads(2)


def build(num_classes: int, **kw) -> RetinaNet:
    """retinanet_resnet50_fpn's body (v1: P6 from C5's FPN output as LastLevelP6P7(256, 256) has it, as 0.14 builds it)."""
    backbone = resnet50(weights=None, norm_layer=misc_nn_ops.FrozenBatchNorm2d)
    backbone = _resnet_fpn_extractor(backbone, 5, returned_layers=[2, 3, 4], extra_blocks=LastLevelP6P7(256, 256))
    return RetinaNet(backbone, num_classes, **kw)


NET_TARGETS = [
    {"boxes": [[10.0, 12.0, 50.0, 40.0], [60.5, 30.0, 120.0, 110.0], [20.0, 70.0, 44.0, 126.0]], "labels": [0, 2, 1]},
    {"boxes": [[5.0, 5.0, 100.0, 90.0], [70.0, 80.0, 90.0, 100.0]], "labels": [1, 1]},
]
NET_GRADS = [
    "backbone.body.conv1.weight",
    "backbone.body.layer3.2.conv2.weight",
    "backbone.fpn.inner_blocks.2.0.weight",
    "backbone.fpn.layer_blocks.0.0.bias",
    "backbone.fpn.extra_blocks.p7.weight",
    "head.classification_head.conv.0.0.weight",
    "head.classification_head.conv.3.0.bias",
    "head.classification_head.cls_logits.bias",
    "head.regression_head.conv.2.0.weight",
    "head.regression_head.bbox_reg.weight",
    "head.regression_head.bbox_reg.bias",
]


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
        "head": {k: sampled(v) for k, v in head.items()},
        "targets": NET_TARGETS,
        "losses": {k: float(v) for k, v in losses.items()},
        "grads": {n: sampled(g) for n, g in zip(NET_GRADS, gs)},
    }


LOSS_TARGETS = [
    # a tiny box no anchor reaches IoU 0.4 with (a low-quality match), two boxes at the same spot
    # with different labels (ties go to the first), large and medium boxes
    {"boxes": [[3.0, 4.0, 20.0, 30.0], [40.0, 50.0, 140.0, 130.0], [40.0, 50.0, 140.0, 130.0], [100.0, 20.0, 500.0, 370.0], [300.5, 10.25, 310.0, 18.0]], "labels": [0, 1, 3, 2, 1]},
    {"boxes": [[0.0, 0.0, 512.0, 384.0], [10.0, 300.0, 200.0, 380.0], [400.0, 100.0, 470.0, 160.0], [250.0, 200.0, 330.0, 380.0]], "labels": [3, 0, 2, 1]},
    {"boxes": [], "labels": []},
]


def loss_and_postprocess() -> dict:
    H, W, KL = 384, 512, 4
    pp = {"score_thresh": 0.3, "topk_candidates": 200, "nms_thresh": 0.5, "detections_per_img": 100}
    model = build(KL, min_size=H, max_size=W, **pp).double()
    locs = [(H // s) * (W // s) for s in (8, 16, 32, 64, 128)]
    levels = [n * 9 for n in locs]
    A = sum(levels)
    B = len(LOSS_TARGETS)
    feats = [torch.zeros(B, 256, H // s, W // s, dtype=torch.float64) for s in (8, 16, 32, 64, 128)]
    il = ImageList(torch.zeros(B, 3, H, W, dtype=torch.float64), [(H, W)] * B)
    anchors = model.anchor_generator(il, feats)
    cls = det("cls", (B, A, KL), 3.0, -3.0).requires_grad_()
    reg = det("reg", (B, A, 4), 0.5).requires_grad_()
    head = {"cls_logits": cls, "bbox_regression": reg}
    targets = to_targets(LOSS_TARGETS)
    for t in targets:
        t["boxes"] = t["boxes"].reshape(-1, 4)
    captured = {}
    orig = model.head.compute_loss

    def spy(targets, head_outputs, anchors, matched_idxs):
        captured["m"] = matched_idxs
        return orig(targets, head_outputs, anchors, matched_idxs)

    model.head.compute_loss = spy
    losses = model.compute_loss(targets, head, anchors)
    total = sum(losses.values())
    g = torch.autograd.grad(total, [cls, reg])
    matched = [[[i, int(v)] for i, v in enumerate(m.tolist()) if v != -1] for m in captured["m"]]
    model.eval()
    with torch.no_grad():
        split = {k: list(v.split(levels, dim=1)) for k, v in head.items()}
        split_anchors = [list(a.split(levels)) for a in anchors]
        dets = model.postprocess_detections(split, split_anchors, [(H, W)] * B)
        originals = [(480, 640), (384, 512), (200, 300)]
        dets = model.transform.postprocess(dets, [(H, W)] * B, originals)
    a0 = anchors[0]
    return {
        "image_size": [H, W],
        "num_classes": KL,
        "levels": levels,
        "targets": LOSS_TARGETS,
        "head": {"cls": {"name": "cls", "scale": 3.0, "offset": -3.0}, "reg": {"name": "reg", "scale": 0.5, "offset": 0.0}},
        "anchors_count": int(a0.shape[0]),
        "anchors_first": [[float(v) for v in a[:18].reshape(-1)] for a in a0.split(levels)],
        "anchors_sampled": sampled(a0),
        "matched": matched,
        "losses": {k: float(v) for k, v in losses.items()},
        "grads": {"cls": sampled(g[0]), "reg": sampled(g[1])},
        "postprocess": {**pp, "original_sizes": originals},
        "detections": [{"boxes": [[float(v) for v in b] for b in d["boxes"]], "scores": [float(v) for v in d["scores"]], "labels": [int(v) for v in d["labels"]]} for d in dets],
    }


def keys() -> dict:
    """The state_dict keys and shapes of retinanet_resnet50_fpn(num_classes=91) as built for fine-tuning."""
    return {"keys": {k: list(v.shape) for k, v in build(91).state_dict().items()}}


if __name__ == "__main__":
    which = sys.argv[1:] or ["loss", "network", "keys"]
    if "loss" in which:
        write("retinanet_loss.json", loss_and_postprocess())
    if "keys" in which:
        write("retinanet_keys.json", keys())
    if "network" in which:
        write("retinanet.json", network())
