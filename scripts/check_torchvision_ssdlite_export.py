"""Checks that an SSDlite folder finetune trained loads into torchvision's ssdlite320_mobilenet_v3_large
with load_state_dict (strict) and gives the detections `finetune predict` printed. Run by hand with
Debian's python3:

    FINETUNE_FROM_SOURCE=1 node bin/finetune.js predict --model DIR --json IMG... > /tmp/ssd-preds.jsonl
    /usr/bin/python3 scripts/check_torchvision_ssdlite_export.py DIR /tmp/ssd-preds.jsonl

torchvision runs its own transform (fixed_size = config.json's image_size, mean / std 0.5) and
post-processing (score_thresh, nms_thresh, detections_per_img, topk_candidates from config.json).
Prints, per image, the detection counts and the largest score difference in order, and the largest
box difference to the closest torchvision box of the same label and score (within 1e-6: a model
barely trained gives many near-equal scores, whose order float rounding decides); exits 1 when the
counts differ or a detection has no such box within 0.01 px.
"""
import json
import os
import sys

import torch
import torchvision.transforms.functional as TF
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_ssdlite_goldens import build  # noqa: E402
from safetensors_io import load_file  # noqa: E402

folder, preds_path = sys.argv[1:3]
cfg = json.load(open(f"{folder}/config.json"))
labels = [cfg["id2label"][str(i)] for i in range(cfg["num_classes"] - 1)]
model = build(cfg["num_classes"], reduced_tail=cfg["reduced_tail"])
model.load_state_dict({k: torch.as_tensor(v) for k, v in load_file(f"{folder}/model.safetensors").items()}, strict=True)
size = cfg["image_size"]
model.transform.fixed_size = (size, size)
model.score_thresh, model.nms_thresh = cfg["score_thresh"], cfg["nms_thresh"]
model.detections_per_img, model.topk_candidates = cfg["detections_per_img"], cfg["topk_candidates"]
model.eval()
print(f"{folder}/model.safetensors: loaded strict into ssdlite320_mobilenet_v3_large(num_classes={cfg['num_classes']}, reduced_tail={cfg['reduced_tail']})")
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
    # torchvision's label l is the class l - 1 of id2label (0 is background)
    tv = [(labels[int(d["labels"][j]) - 1], float(d["scores"][j]), d["boxes"][j]) for j in range(len(d["scores"]))]

    def closest(o):
        errs = [float((b - torch.tensor(o["box"])).abs().max()) for lab, sc, b in tv if lab == o["label"] and abs(sc - o["score"]) <= 1e-6]
        return min(errs or [float("inf")])

    box_err = max([closest(o) for o in ours] or [0.0])
    score_err = max([abs(float(d["scores"][k]) - ours[k]["score"]) for k in range(n)] or [0.0])
    print(f"{p['path']}: torchvision {len(d['scores'])} / finetune {len(ours)} detections; scores in order within {score_err:.2e}; each box within {box_err:.3f} px of a torchvision box of its label and score")
    ok = ok and box_err < 0.01 and len(ours) == len(d["scores"])
sys.exit(0 if ok else 1)
