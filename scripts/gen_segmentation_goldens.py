"""Golden files for torchvision's semantic segmentation families (src/models/segmentation.test.ts).

    /usr/bin/python3 scripts/gen_segmentation_goldens.py [arch ...]     # ~3 min for all four (float64)

Writes test/golden/segmentation/<arch>.json and test/golden/segmentation/interpolate.json.

No weights are shipped: every parameter and BatchNorm buffer comes from the hash formula of
scripts/gen_vision_goldens.py (src/models/vision-weights.ts), and so do the input images (name
"input", scale 2) and the target masks (name "target": u in [-1, 1) -> floor((u + 1) / 2 * (K + 1)),
the value K standing for 255, the ignore index, so about 1/(K+1) of the pixels are ignored).

Each model is torchvision's builder with weights=None, weights_backbone=None, num_classes=K,
aux_loss=True where the family has an auxiliary head, and every Dropout set to p=0:
  eval:  logits ("out") and auxiliary logits ("aux") at input resolution in eval mode, sampled at
         stored indices, with the full tensor's max |v| and L2 norm
  train: the same in train mode (batch statistics), the loss of torchvision's reference training
         script (CE(out, ignore_index=255) + 0.5 * CE(aux, ignore_index=255)), how far torch's own
         float32 train-mode logits land from float64 ("float32_err": DeepLabV3's image-pooling
         BatchNorm normalises two values per channel, which float32 resolves to ~3e-4), gradients of named
         parameters (sampled, with max |g|, L2 norm and the conditioning figures of the vision
         goldens), and BatchNorm running means after that forward
  counts: learnable parameters at K classes and at torchvision's pretrained configuration
         (21 classes, with the auxiliary head), which its weight metadata lists
"""

from __future__ import annotations

import json
import os
import sys
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.models import segmentation as S

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_vision_goldens import det_uniform, fill_deterministic, sample_indices  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "test", "golden", "segmentation")
MAX_BYTES = 200_000
NUM_CLASSES = 4
BATCH = 2  # DeepLab's image-pooling BatchNorm sees one value per channel and image: train mode needs 2
SIZE = 64
INPUT_SCALE = 2.0
OUTPUT_SAMPLES = 400
PERTURBATIONS = 3
WEIGHT_CHECKS = 8

warnings.filterwarnings("ignore")
torch.set_num_threads(2)

ARCHS = {
    "fcn_resnet50": dict(
        grads=["backbone.conv1.weight", "backbone.layer3.1.bn2.weight", "backbone.layer4.2.conv2.weight", "classifier.0.weight", "classifier.4.weight", "classifier.4.bias", "aux_classifier.4.weight"],
        bn=["backbone.bn1", "classifier.1", "aux_classifier.1"],
    ),
    "deeplabv3_resnet50": dict(
        grads=["backbone.conv1.weight", "backbone.layer4.0.conv2.weight", "classifier.0.convs.1.0.weight", "classifier.0.convs.4.1.weight", "classifier.0.project.0.weight", "classifier.4.weight", "aux_classifier.0.weight"],
        bn=["classifier.0.convs.3.1", "classifier.0.convs.4.2", "classifier.2"],
    ),
    "deeplabv3_mobilenet_v3_large": dict(
        grads=["backbone.0.0.weight", "backbone.4.block.2.fc1.weight", "backbone.13.block.1.0.weight", "classifier.0.convs.2.0.weight", "classifier.4.bias", "aux_classifier.4.weight"],
        bn=["backbone.0.1", "backbone.13.block.1.1", "classifier.0.convs.4.2"],
    ),
    "lraspp_mobilenet_v3_large": dict(
        grads=["backbone.0.0.weight", "backbone.11.block.2.fc2.bias", "backbone.15.block.1.0.weight", "classifier.cbr.0.weight", "classifier.scale.1.weight", "classifier.low_classifier.weight", "classifier.high_classifier.bias"],
        bn=["backbone.16.1", "classifier.cbr.1"],
    ),
}


def has_aux(arch: str) -> bool:
    return not arch.startswith("lraspp")


def build(arch: str, num_classes: int) -> torch.nn.Module:
    kw = dict(weights=None, weights_backbone=None, num_classes=num_classes)
    if has_aux(arch):
        kw["aux_loss"] = True
    m = getattr(S, arch)(**kw)
    for mod in m.modules():
        if isinstance(mod, torch.nn.Dropout):
            mod.p = 0.0
    return m


def inputs() -> torch.Tensor:
    return torch.from_numpy(det_uniform("input", BATCH * 3 * SIZE * SIZE, INPUT_SCALE)).reshape(BATCH, 3, SIZE, SIZE)


def targets(k: int) -> torch.Tensor:
    u = det_uniform("target", BATCH * SIZE * SIZE, 1.0).astype(np.float64)
    t = np.floor((u + 1) / 2 * (k + 1)).astype(np.int64)
    t[t == k] = 255
    return torch.from_numpy(t).reshape(BATCH, SIZE, SIZE)


def criterion(out: dict, target: torch.Tensor) -> tuple[torch.Tensor, dict]:
    """torchvision/references/segmentation/train.py's criterion."""
    losses = {name: F.cross_entropy(x, target, ignore_index=255) for name, x in out.items()}
    if len(losses) == 1:
        return losses["out"], losses
    return losses["out"] + 0.5 * losses["aux"], losses


def sampled(t: torch.Tensor) -> dict:
    flat = t.detach().reshape(-1)
    n = flat.numel()
    idx = [(j * n) // OUTPUT_SAMPLES + (j * 7919) % max(1, n // OUTPUT_SAMPLES) for j in range(OUTPUT_SAMPLES)]
    return {"shape": list(t.shape), "indices": idx, "values": [float(flat[i]) for i in idx], "max_abs": float(flat.abs().max()), "l2": float(flat.norm())}


def golden(arch: str) -> dict:
    cfg = ARCHS[arch]
    model = build(arch, NUM_CLASSES)
    fill_deterministic(model)
    sd32 = {k: v.clone() for k, v in model.state_dict().items()}
    x32 = inputs()
    target = targets(NUM_CLASSES)
    names = list(sd32)
    checks = {n: [float(v) for v in sd32[n].reshape(-1)[:WEIGHT_CHECKS].tolist()] for n in dict.fromkeys([names[0], names[-1], cfg["grads"][2]])}

    # torch's own float32 gradients, only to say how far float32 lands from the float64 reference
    model.train()
    out32 = model(x32)
    criterion(out32, target)[0].backward()
    grads32 = {n: p.grad.double() for n, p in model.named_parameters() if n in cfg["grads"]}

    sd64 = {k: v.double() if v.is_floating_point() else v for k, v in sd32.items()}
    model = model.double()
    model.load_state_dict(sd64)
    x = x32.double()
    model.eval()
    with torch.no_grad():
        ev = model(x)
    model.load_state_dict(sd64)
    model.train()
    model.zero_grad()
    out = model(x)
    loss, parts = criterion(out, target)
    loss.backward()
    params = dict(model.named_parameters())
    grads = {}
    for name in cfg["grads"]:
        g = params[name].grad.detach().reshape(-1)
        idx = sample_indices(g.numel())
        grads[name] = {
            "shape": list(params[name].shape),
            "indices": idx,
            "values": [float(g[i]) for i in idx],
            "max_abs": float(g.abs().max()),
            "l2": float(g.norm()),
            "float32_err": float((grads32[name].reshape(-1) - g).abs().max() / g.abs().max()),
        }
    modules = dict(model.named_modules())
    running = {f"{n}.running_mean": [float(v) for v in modules[n].running_mean.tolist()] for n in cfg["bn"]}

    for seed in range(PERTURBATIONS):
        gen = torch.Generator().manual_seed(seed)
        model.load_state_dict({k: v * (1 + 1e-7 * torch.randn(v.shape, generator=gen, dtype=v.dtype)) if v.is_floating_point() else v for k, v in sd64.items()})
        model.zero_grad()
        criterion(model(x), target)[0].backward()
        params = dict(model.named_parameters())
        for name in cfg["grads"]:
            g, ref = params[name].grad.reshape(-1), grads[name]
            err = float(max(abs(float(g[i]) - v) for i, v in zip(ref["indices"], ref["values"])) / ref["max_abs"])
            ref["perturbed_err"] = max(ref.get("perturbed_err", 0.0), err)

    default = getattr(S, arch)(weights=None, weights_backbone=None, **({"aux_loss": True} if has_aux(arch) else {}))
    return {
        "arch": arch,
        "num_classes": NUM_CLASSES,
        "image_size": SIZE,
        "batch": BATCH,
        "input": {"name": "input", "scale": INPUT_SCALE},
        "target": {"name": "target", "ignore_index": 255, "first": [int(v) for v in target.reshape(-1)[:16].tolist()], "ignored": int((target == 255).sum())},
        "aux_weight": 0.5 if has_aux(arch) else 0,
        "weight_checks": checks,
        "param_count": sum(p.numel() for p in model.parameters()),
        "param_count_default": sum(p.numel() for p in default.parameters()),
        "eval": {k: sampled(v) for k, v in ev.items()},
        "train": {
            **{k: {**sampled(v), "float32_err": float((out32[k].detach().double() - v.detach()).abs().max() / v.detach().abs().max())} for k, v in out.items()},
            "loss": float(loss),
            "loss_parts": {k: float(v) for k, v in parts.items()},
            "grads": grads,
            "running_mean": running,
        },
    }


def interpolate_cases() -> dict:
    """F.interpolate(bilinear, align_corners=False, size=...) on small tensors, float64."""
    cases = []
    for (h, w), (oh, ow) in [((3, 4), (7, 9)), ((8, 6), (3, 5)), ((4, 4), (21, 16)), ((5, 7), (5, 3)), ((1, 1), (3, 2)), ((9, 9), (1, 1))]:
        name = f"interp.{h}x{w}"
        x = torch.from_numpy(det_uniform(name, 2 * h * w, 1.0)).double().reshape(1, 2, h, w)
        y = F.interpolate(x, size=(oh, ow), mode="bilinear", align_corners=False)
        cases.append({"name": name, "in": [h, w], "out": [oh, ow], "output": [float(v) for v in y.reshape(-1).tolist()]})
    return {"cases": cases}


def write(name: str, obj: dict) -> None:
    path = os.path.join(OUT, name)
    text = json.dumps(obj, separators=(",", ":"))
    if len(text) > MAX_BYTES:
        raise SystemExit(f"{path}: {len(text)} bytes, over {MAX_BYTES}")
    with open(path, "w") as f:
        f.write(text + "\n")
    print(f"wrote {path} ({len(text)} bytes)")


def main(argv: list[str]) -> None:
    os.makedirs(OUT, exist_ok=True)
    for arch in argv or [*ARCHS, "interpolate"]:
        if arch == "interpolate":
            write("interpolate.json", interpolate_cases())
            continue
        g = golden(arch)
        write(f"{arch}.json", g)
        print(f"  {arch}: loss {g['train']['loss']:.6f} {g['train']['loss_parts']}")


if __name__ == "__main__":
    main(sys.argv[1:])
