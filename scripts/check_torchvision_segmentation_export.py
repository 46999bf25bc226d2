"""Checks that a segmentation folder finetune trained loads into torchvision's builder with
load_state_dict (strict) and gives the masks `finetune predict` wrote. Run by hand with Debian's python3:

    node bin/finetune.js predict --model DIR --mask-dir /tmp/masks --json IMG... > /tmp/seg-preds.jsonl
    /usr/bin/python3 scripts/check_torchvision_segmentation_export.py DIR /tmp/seg-preds.jsonl

Preprocessing is redone with PIL and torchvision (resize to image_size x image_size, bilinear;
ToTensor; Normalize with ImageNet's statistics); the argmax is resized back to the image's size with
nearest neighbour, as finetune does. Prints the share of pixels where the masks agree and the largest
difference of the per-class mean logits.
"""
import json
import os
import sys

import numpy as np
import torch
import torchvision.transforms as T
from PIL import Image
from torchvision.models import segmentation as S

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_io import load_file  # noqa: E402

folder, preds_path = sys.argv[1:3]
cfg = json.load(open(f"{folder}/config.json"))
arch, n, size = cfg["finetune_arch"], cfg["num_classes"], cfg["image_size"]
kw = {"aux_loss": True} if cfg.get("aux") else {}
model = getattr(S, arch)(weights=None, weights_backbone=None, num_classes=n, **kw)
model.load_state_dict({k: torch.as_tensor(v) for k, v in load_file(f"{folder}/model.safetensors").items()}, strict=True)
model.eval()
tf = T.Compose([T.Resize((size, size)), T.ToTensor(), T.Normalize(cfg["image_mean"], cfg["image_std"])])
agree = total = 0
worst = 0.0
for line in open(preds_path):
    if not line.strip():
        continue
    p = json.loads(line)
    img = Image.open(p["path"]).convert("RGB")
    with torch.no_grad():
        out = model(tf(img).unsqueeze(0))["out"][0]
    pred = Image.fromarray(out.argmax(0).numpy().astype(np.uint8)).resize(img.size, Image.NEAREST)
    ours = np.array(Image.open(p["mask"]))
    agree += int((np.array(pred) == ours).sum())
    total += ours.size
    worst = max(worst, float((out.mean((1, 2)) - torch.tensor(p["logits"])).abs().max()))
print(f"{arch}: torchvision and finetune masks agree on {agree}/{total} pixels ({100 * agree / total:.3f}%); mean logits differ by at most {worst:.2e}")
sys.exit(0 if agree / total > 0.999 else 1)
