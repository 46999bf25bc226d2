"""Checks that a detection folder finetune trained loads into torchvision's fcos_resnet50_fpn or
retinanet_resnet50_fpn (config.json's finetune_arch) with load_state_dict (strict) and gives the
detections `finetune predict` printed. Run by hand with
Debian's python3:

    node bin/finetune.js predict --model DIR --json IMG... > /tmp/det-preds.jsonl
    /usr/bin/python3 scripts/check_torchvision_detection_export.py DIR /tmp/det-preds.jsonl

torchvision runs its own transform (min_size / max_size from config.json) and post-processing
(score_thresh, nms_thresh, detections_per_img, topk_candidates and, for RetinaNet, fg_iou_thresh /
bg_iou_thresh from config.json). finetune pads every image to one
square canvas where torchvision pads to the image itself (a multiple of 32), so features near the
bottom and right borders may differ slightly (scores by ~1e-3 on a random model, enough to reorder
near-ties); with square images and min_size = max_size a multiple of 32 both pad alike (measured:
boxes within 0.005 px, scores within 5e-8). Prints, per image, the detection counts and the largest
box and score differences over the detections both list in the same order.
"""
import json
import os
import sys

import torch
import torchvision.transforms.functional as TF
from PIL import Image
from torchvision.models import resnet50
from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
from torchvision.models.detection.fcos import FCOS
from torchvision.models.detection.retinanet import RetinaNet
from torchvision.ops import misc as misc_nn_ops
from torchvision.ops.feature_pyramid_network import LastLevelP6P7

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_io import load_file  # noqa: E402

folder, preds_path = sys.argv[1:3]
cfg = json.load(open(f"{folder}/config.json"))
labels = [cfg["id2label"][str(i)] for i in range(cfg["num_classes"])]
body = resnet50(weights=None, norm_layer=misc_nn_ops.FrozenBatchNorm2d)
arch = cfg["finetune_arch"]
extra = {"fg_iou_thresh": cfg["fg_iou_thresh"], "bg_iou_thresh": cfg["bg_iou_thresh"]} if arch == "retinanet_resnet50_fpn" else {}
model = (RetinaNet if arch == "retinanet_resnet50_fpn" else FCOS)(
    _resnet_fpn_extractor(body, 5, returned_layers=[2, 3, 4], extra_blocks=LastLevelP6P7(256, 256)),
    cfg["num_classes"],
    **extra,
    min_size=cfg["min_size"],
    max_size=cfg["max_size"],
    score_thresh=cfg["score_thresh"],
    nms_thresh=cfg["nms_thresh"],
    detections_per_img=cfg["detections_per_img"],
    topk_candidates=cfg["topk_candidates"],
)
model.load_state_dict({k: torch.as_tensor(v) for k, v in load_file(f"{folder}/model.safetensors").items()}, strict=True)
model.eval()
ok = True
for line in open(preds_path):
    if not line.strip():
        continue
    p = json.loads(line)
    img = TF.to_tensor(Image.open(p["path"]).convert("RGB"))
    with torch.no_grad():
        d = model([img])[0]
    ours = p["detections"]
    n = min(len(ours), len(d["scores"]))
    same_labels = all(labels[int(d["labels"][k])] == ours[k]["label"] for k in range(n))
    box_err = max([float((d["boxes"][k] - torch.tensor(ours[k]["box"])).abs().max()) for k in range(n)] or [0.0])
    score_err = max([abs(float(d["scores"][k]) - ours[k]["score"]) for k in range(n)] or [0.0])
    print(f"{arch} {p['path']}: torchvision {len(d['scores'])} / finetune {len(ours)} detections; labels in order {'agree' if same_labels else 'DIFFER'}; boxes within {box_err:.3f} px, scores within {score_err:.2e}")
    ok = ok and same_labels and len(ours) == len(d["scores"])
sys.exit(0 if ok else 1)
