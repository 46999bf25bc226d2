"""Golden files for torchvision's SSDlite320 MobileNetV3-Large (src/models/ssdlite.test.ts, ssdlite-network.test.ts).

    /usr/bin/python3 scripts/gen_ssdlite_goldens.py [loss|network|keys ...]     # ~20 s (float64)

Writes test/golden/detection/ssdlite.json (the network), ssdlite_loss.json (default boxes, matching,
loss, post-processing, the fixed-size transform) and ssdlite_keys.json (state_dict keys and shapes).

No weights are shipped: every parameter and buffer comes from the hash formula of
scripts/gen_vision_goldens.py (src/models/vision-weights.ts), and so do the images and head outputs.

ssdlite.json: torchvision 0.14's ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None)
(reduced tail, BatchNorm eps 0.001 momentum 0.03, 4 classes with background) at a smaller fixed size,
128 x 128 (transform.fixed_size; the network is size-agnostic), two images in [0, 1] (name "input",
0.5 + 0.5 u), BatchNorm on its running statistics (eval mode; the loss computed as in training): in
training mode the 1x1 maps of a batch of 2 leave BatchNorm two values per channel, so ill-conditioned
that torch's own float32 gradients differ from its float64 ones by ~9%. Recorded: the normalised batch
(sampled), head outputs (sampled), the default boxes (all), matched indices, the loss dict for fixed
targets and gradients of its sum for named parameters. The model runs in float64; the default boxes
and the matching are float32 as torchvision computes them for a float32 model.

ssdlite_loss.json: no network. Default boxes of a 320 x 320 input (float32, sampled), head outputs from
the formula (names "cls", "reg"; 5 classes with background), three images (one without boxes):
SSDMatcher's indices, SSD.compute_loss and its gradients with respect to the head outputs (float64),
postprocess_detections at the builder's defaults (score 0.001, top-k 300 per class, NMS 0.55, 300
detections) and transform.postprocess to the original sizes; the transform of a non-square 90 x 150
image (resized to 320 x 320 without keeping the aspect ratio, mean and std 0.5) with its boxes.

ssdlite_keys.json: state_dict keys and shapes at 91 classes, reduced tail (torchvision's COCO weights)
and full tail (the builder given an ImageNet backbone).
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from functools import partial

import torch
from torch import nn
from torchvision.models.detection import _utils as det_utils
from torchvision.models.detection.anchor_utils import DefaultBoxGenerator
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.ssd import SSD
from torchvision.models.detection.ssdlite import SSDLiteHead, _mobilenet_extractor, ssdlite320_mobilenet_v3_large
from torchvision.models.mobilenetv3 import mobilenet_v3_large
from torchvision.ops import boxes as box_ops

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_vision_goldens import det_uniform, fill_deterministic  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "test", "golden", "detection")
SAMPLES = 300

warnings.filterwarnings("ignore")
torch.set_num_threads(2)


def build(num_classes: int, reduced_tail: bool = True) -> SSD:
    if reduced_tail:
        return ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=num_classes)
    # the builder's graph with an ImageNet backbone (full tail), without downloading one
    norm_layer = partial(nn.BatchNorm2d, eps=0.001, momentum=0.03)
    backbone = _mobilenet_extractor(mobilenet_v3_large(weights=None, norm_layer=norm_layer, reduced_tail=False), 6, norm_layer)
    anchors = DefaultBoxGenerator([[2, 3] for _ in range(6)], min_ratio=0.2, max_ratio=0.95)
    out_channels = det_utils.retrieve_out_channels(backbone, (320, 320))
    head = SSDLiteHead(out_channels, anchors.num_anchors_per_location(), num_classes, norm_layer)
    return SSD(backbone, anchors, (320, 320), num_classes, head=head)


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


def to_targets(ts):
    return [{"boxes": torch.tensor(t["boxes"], dtype=torch.float64).reshape(-1, 4), "labels": torch.tensor(t["labels"], dtype=torch.int64)} for t in ts]


def default_boxes(model: SSD, size: int, feats) -> torch.Tensor:
    """The anchors of a float32 model (as torchvision computes them in training and inference)."""
    il = ImageList(torch.zeros(1, 3, size, size), [(size, size)])
    return model.anchor_generator(il, [torch.zeros(1, 1, f.shape[-2], f.shape[-1]) for f in feats])[0]


def match(model: SSD, targets, anchors: torch.Tensor):
    """SSD.forward's matching, in float32 as for a float32 model."""
    out = []
    for t in targets:
        if t["boxes"].numel() == 0:
            out.append(torch.full((anchors.size(0),), -1, dtype=torch.int64))
            continue
        out.append(model.proposal_matcher(box_ops.box_iou(t["boxes"].float(), anchors)))
    return out


NET_TARGETS = [
    {"boxes": [[10.0, 12.0, 50.0, 40.0], [60.5, 30.0, 120.0, 110.0], [20.0, 70.0, 44.0, 126.0]], "labels": [1, 3, 2]},
    {"boxes": [[5.0, 5.0, 100.0, 90.0], [70.0, 80.0, 90.0, 100.0]], "labels": [2, 2]},
]
NET_GRADS = [
    "backbone.features.0.0.0.weight",
    "backbone.features.0.4.block.2.fc1.weight",
    "backbone.features.0.13.1.weight",
    "backbone.features.1.0.1.0.weight",
    "backbone.features.1.0.2.fc2.bias",
    "backbone.features.1.3.1.bias",
    "backbone.extra.0.1.0.weight",
    "backbone.extra.3.2.1.weight",
    "head.classification_head.module_list.0.0.0.weight",
    "head.classification_head.module_list.5.1.bias",
    "head.regression_head.module_list.1.1.weight",
    "head.regression_head.module_list.4.0.1.bias",
]


def network() -> dict:
    S, C = 128, 4
    model = build(C)
    fill_deterministic(model)
    model = model.double()
    model.transform.fixed_size = (S, S)
    images = det("input", (2, 3, S, S), 0.5, 0.5)
    weights = {n: [float(v) for v in p.reshape(-1)[:4]] for n, p in model.named_parameters() if n in NET_GRADS[:3]}
    model.eval()
    targets = to_targets(NET_TARGETS)
    il, targets = model.transform(list(images), targets)
    feats = list(model.backbone(il.tensors).values())
    head = model.head(feats)
    anchors = default_boxes(model, S, feats)
    matched = match(model, targets, anchors)
    losses = model.compute_loss(targets, head, [anchors.double()] * 2, matched)
    total = sum(losses.values())
    params = dict(model.named_parameters())
    gs = torch.autograd.grad(total, [params[n] for n in NET_GRADS])
    return {
        "num_classes": C,
        "image_size": S,
        "batch": 2,
        "input": {"name": "input", "scale": 0.5, "offset": 0.5},
        "param_count": sum(p.numel() for p in model.parameters()),
        "param_count_coco": sum(p.numel() for p in build(91).parameters()),
        "weight_checks": weights,
        "normalised": sampled(il.tensors),
        "levels": [[f.shape[-2], f.shape[-1]] for f in feats],
        "head": {k: sampled(v) for k, v in head.items()},
        "default_boxes": [float(v) for v in anchors.reshape(-1)],
        "targets": NET_TARGETS,
        "matched": [[int(v) for v in m] for m in matched],
        "losses": {k: float(v) for k, v in losses.items()},
        "grads": {n: sampled(g) for n, g in zip(NET_GRADS, gs)},
    }


LOSS_TARGETS = [
    {"boxes": [[3.0, 4.0, 20.0, 30.0], [40.0, 50.0, 140.0, 130.0], [100.0, 20.0, 300.0, 310.0], [250.0, 200.0, 290.0, 300.0], [150.5, 10.25, 160.0, 18.0]], "labels": [1, 2, 3, 4, 2]},
    {"boxes": [[0.0, 0.0, 320.0, 320.0], [10.0, 200.0, 200.0, 300.0], [200.0, 100.0, 270.0, 160.0]], "labels": [4, 1, 3]},
    {"boxes": [], "labels": []},
]


def loss_and_postprocess() -> dict:
    S, C = 320, 5
    model = build(C)
    feats = [torch.zeros(1, 1, n, n) for n in (20, 10, 5, 3, 2, 1)]
    anchors = default_boxes(model, S, feats)
    A = anchors.size(0)
    B = len(LOSS_TARGETS)
    cls = det("cls", (B, A, C), 3.0).requires_grad_()
    reg = det("reg", (B, A, 4), 1.0).requires_grad_()
    head = {"cls_logits": cls, "bbox_regression": reg}
    targets = to_targets(LOSS_TARGETS)
    matched = match(model, targets, anchors)
    losses = model.compute_loss(targets, head, [anchors.double()] * B, matched)
    total = sum(losses.values())
    g = torch.autograd.grad(total, [cls, reg])
    model.eval()
    originals = [(480, 640), (320, 320), (200, 300)]
    with torch.no_grad():
        dets = model.postprocess_detections(head, [anchors.double()] * B, [(S, S)] * B)
        dets = model.transform.postprocess(dets, [(S, S)] * B, originals)
    # the transform: a 3 x 90 x 150 image to 320 x 320 (no aspect ratio kept), mean / std 0.5
    tr = model.transform
    tr.train()
    img = det("resize_input", (3, 90, 150), 0.5, 0.5).float()
    box = {"boxes": torch.tensor([[10.0, 20.0, 100.0, 80.0]]), "labels": torch.tensor([1])}
    il2, t2 = tr([img], [box])
    return {
        "image_size": S,
        "num_classes": C,
        "levels": [[f.shape[-2], f.shape[-1]] for f in feats],
        "default_boxes": {**sampled(anchors), "first": [[float(v) for v in a] for a in anchors[:8]], "last": [[float(v) for v in a] for a in anchors[-6:]]},
        "targets": LOSS_TARGETS,
        "head": {"cls": {"name": "cls", "scale": 3.0, "offset": 0.0}, "reg": {"name": "reg", "scale": 1.0, "offset": 0.0}},
        "matched": [[int(v) for v in m] for m in matched],
        "losses": {k: float(v) for k, v in losses.items()},
        "grads": {"cls": sampled(g[0]), "reg": sampled(g[1])},
        "postprocess": {"score_thresh": model.score_thresh, "topk_candidates": model.topk_candidates, "nms_thresh": model.nms_thresh, "detections_per_img": model.detections_per_img, "original_sizes": originals},
        "detections": [{"boxes": [[float(v) for v in b] for b in d["boxes"]], "scores": [float(v) for v in d["scores"]], "labels": [int(v) for v in d["labels"]]} for d in dets],
        "resize": {
            "input": {"name": "resize_input", "shape": [3, 90, 150], "scale": 0.5, "offset": 0.5},
            "image_size": list(il2.image_sizes[0]),
            "normalised": sampled(il2.tensors[0]),
            "boxes": [[float(v) for v in b] for b in t2[0]["boxes"]],
        },
    }


def keys() -> dict:
    return {"reduced_tail": {k: list(v.shape) for k, v in build(91).state_dict().items()}, "full_tail": {k: list(v.shape) for k, v in build(91, reduced_tail=False).state_dict().items()}}


def write(name: str, obj: dict) -> None:
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, name)
    with open(path + ".tmp", "w") as f:
        json.dump(obj, f, separators=(",", ":"))
    os.replace(path + ".tmp", path)
    print(f"{path}: {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    which = sys.argv[1:] or ["loss", "network", "keys"]
    if "keys" in which:
        write("ssdlite_keys.json", keys())
    if "loss" in which:
        write("ssdlite_loss.json", loss_and_postprocess())
    if "network" in which:
        write("ssdlite.json", network())
