"""Golden files for the torchvision image-classification families (src/models/vision.test.ts).

    /usr/bin/python3 scripts/gen_vision_goldens.py [arch ...]     # ~7 min for all nine (float64)

Writes test/golden/vision/<arch>.json and test/golden/vision/vit-pos-interp.json.

No weights are shipped. Every parameter and BatchNorm buffer is filled from a hash of its
state_dict key and element index (the formula of src/models/vision-weights.ts, reproduced here
in numpy uint32 arithmetic; both give bit-identical float32 values, and each golden carries the
first values of a few tensors so the test checks that). The input images come from the same
formula under the name "input" (scale 2), so they are not stored either.

For each architecture, built by torchvision with dropout 0 and filled with those weights:
  eval:  logits in eval mode (BatchNorm running statistics)
  train: logits and cross-entropy loss in train mode (batch statistics; Inception adds
         0.4 * the auxiliary classifier's loss, as torchvision's reference training script),
         gradients of a few named parameters (long ones subsampled at stored indices, with the
         full gradient's max |g| and L2 norm), and BatchNorm running_mean after that forward
  counts: learnable parameters at the golden's class count and at torchvision's defaults
Reference values are computed in float64 from the float32 weights. "float32_logits_max_diff" and
each gradient's "float32_err" (max |g32 - g64| / max |g64|) say how far torch's own float32
computation lands; "perturbed_err" is the largest change of the sampled float64 gradient when every
weight is multiplied by (1 + 1e-7 N(0, 1)), over 3 draws. Gradients of early layers in deep
ReLU/max-pool nets are ill-conditioned at that level: activations within rounding of a ReLU kink or
a max-pool tie switch the backward path (ResNet-50's conv1 moves by up to 6e-3, Inception's first
conv by 1e-2). The test scales its gradient tolerance with these figures.
"""

from __future__ import annotations

import json
import math
import os
import sys
import warnings

import numpy as np
import torch
import torch.nn.functional as F
import torchvision.models as tvm
from torchvision.models.vision_transformer import interpolate_embeddings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "test", "golden", "vision")
MAX_BYTES = 300_000
NUM_CLASSES = 10
LABELS = [1, 7]
INPUT_SCALE = 2.0
SAMPLES = 128  # gradient entries kept per tensor
PERTURBATIONS = 3  # float32-rounding-sized weight perturbations that measure gradient conditioning

warnings.filterwarnings("ignore")
torch.set_num_threads(2)

# ----------------------------------------------------------------------------- weight formula


def fnv1a32(name: str) -> int:
    h = 0x811C9DC5
    for b in name.encode("utf-8"):
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


def det_uniform(name: str, n: int, scale: float, offset: float = 0.0) -> np.ndarray:
    """float32(offset + scale * u_i), u_i in [-1, 1) from lowbias32(h ^ (i + 1) * 0x9E3779B1)."""
    h = np.uint32(fnv1a32(name))
    out = np.empty(n, dtype=np.float32)
    chunk = 1 << 22
    for s in range(0, n, chunk):
        i = np.arange(s + 1, min(n, s + chunk) + 1, dtype=np.uint32)
        x = h ^ (i * np.uint32(0x9E3779B1))
        x ^= x >> np.uint32(16)
        x *= np.uint32(0x7FEB352D)
        x ^= x >> np.uint32(15)
        x *= np.uint32(0x846CA68B)
        x ^= x >> np.uint32(16)
        u = (x >> np.uint32(8)).astype(np.float64) / 8388608.0 - 1.0
        out[s : s + len(i)] = (offset + scale * u).astype(np.float32)
    return out


def det_spec(name: str, shape) -> tuple[float, float]:
    """(scale, offset) per tensor, from its key and shape: the same rules as detSpec in TypeScript."""
    leaf = name.rsplit(".", 1)[-1]
    if leaf == "num_batches_tracked":
        return 0.0, 0.0
    if leaf == "running_mean":
        return 0.1, 0.0
    if leaf == "running_var":
        return 0.25, 1.0
    if leaf in ("class_token", "pos_embedding"):
        return 0.2, 0.0
    if leaf.endswith("bias"):
        return 0.1, 0.0
    if len(shape) == 1:
        return 0.1, 1.0
    fan_in = int(np.prod(shape[1:]))
    return math.sqrt(6 / fan_in), 0.0


def fill_deterministic(model: torch.nn.Module) -> None:
    with torch.no_grad():
        for name, t in model.state_dict().items():
            scale, offset = det_spec(name, list(t.shape))
            if scale == 0:
                t.fill_(offset)
            else:
                t.copy_(torch.from_numpy(det_uniform(name, t.numel(), scale, offset)).reshape(t.shape))


# ----------------------------------------------------------------------------- architectures

ARCHS = {
    "resnet18": dict(size=64, kwargs={}, grads=["conv1.weight", "bn1.weight", "layer4.1.bn2.weight", "layer2.0.downsample.0.weight", "fc.weight", "fc.bias"], bn=["bn1", "layer4.1.bn2"]),
    "resnet34": dict(size=64, kwargs={}, grads=["conv1.weight", "bn1.weight", "layer3.5.conv2.weight", "fc.weight"], bn=["bn1", "layer3.5.bn2"]),
    "resnet50": dict(size=64, kwargs={}, grads=["conv1.weight", "bn1.weight", "layer4.2.bn3.weight", "layer1.0.downsample.1.weight", "fc.weight"], bn=["bn1", "layer4.0.bn2"]),
    "vgg11": dict(size=64, kwargs={"dropout": 0.0}, grads=["features.0.weight", "features.0.bias", "classifier.0.bias", "classifier.6.weight"], bn=[]),
    "vgg16": dict(size=64, kwargs={"dropout": 0.0}, grads=["features.0.weight", "features.28.weight", "classifier.3.bias", "classifier.6.weight"], bn=[]),
    "vgg16_bn": dict(size=64, kwargs={"dropout": 0.0}, grads=["features.0.weight", "features.1.weight", "features.41.weight", "classifier.6.weight"], bn=["features.1", "features.41"]),
    "inception_v3": dict(size=299, kwargs={"dropout": 0.0, "init_weights": False, "aux_logits": True, "transform_input": False}, grads=["Conv2d_1a_3x3.conv.weight", "Conv2d_1a_3x3.bn.weight", "Mixed_7c.branch_pool.bn.weight", "AuxLogits.conv1.conv.weight", "AuxLogits.fc.weight", "fc.weight"], bn=["Conv2d_1a_3x3.bn", "AuxLogits.conv1.bn"]),
    "mobilenet_v2": dict(size=64, kwargs={"dropout": 0.0}, grads=["features.0.0.weight", "features.0.1.weight", "features.17.conv.1.0.weight", "features.18.1.bias", "classifier.1.weight"], bn=["features.0.1", "features.17.conv.1.1"]),
    "vit_b_16": dict(size=64, kwargs={"image_size": 64}, grads=["conv_proj.weight", "class_token", "encoder.pos_embedding", "encoder.layers.encoder_layer_0.self_attention.in_proj_weight", "encoder.layers.encoder_layer_11.ln_2.weight", "encoder.ln.bias", "heads.head.weight"], bn=[]),
}

WEIGHT_CHECKS = 8  # leading values of each checked tensor


def build(arch: str, num_classes: int, **extra) -> torch.nn.Module:
    cfg = ARCHS[arch]
    kw = {**cfg["kwargs"], **extra}
    return getattr(tvm, arch)(num_classes=num_classes, **kw)


def inputs(arch: str, size: int) -> torch.Tensor:
    n = 2 * 3 * size * size
    return torch.from_numpy(det_uniform("input", n, INPUT_SCALE)).reshape(2, 3, size, size)


def sample_indices(n: int) -> list[int]:
    if n <= 2 * SAMPLES:
        return list(range(n))
    return [(j * n) // SAMPLES + (j * 7919) % max(1, n // SAMPLES) for j in range(SAMPLES)]


def flat(t: torch.Tensor) -> list[float]:
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def main_loss(out, labels):
    if isinstance(out, tuple):  # InceptionOutputs(logits, aux_logits) in train mode
        return out[0], F.cross_entropy(out[0], labels) + 0.4 * F.cross_entropy(out[1], labels)
    return out, F.cross_entropy(out, labels)


def golden(arch: str) -> dict:
    cfg = ARCHS[arch]
    size = cfg["size"]
    model = build(arch, NUM_CLASSES)
    fill_deterministic(model)
    sd32 = {k: v.clone() for k, v in model.state_dict().items()}
    x32 = inputs(arch, size)
    labels = torch.tensor(LABELS)

    checks = {}
    names = list(sd32)
    picks = [names[0], names[-1]] + [next((n for n in names if n.endswith(suffix)), names[1]) for suffix in ("running_var", "ln.weight", "bias")]
    for name in dict.fromkeys(picks):
        checks[name] = [float(v) for v in sd32[name].reshape(-1)[:WEIGHT_CHECKS].tolist()]

    # torch's own float32 results, only to report how far float32 lands from the float64 reference
    model.eval()
    with torch.no_grad():
        logits32 = model(x32)
    model.train()
    _, loss32 = main_loss(model(x32), labels)
    loss32.backward()
    grads32 = {n: p.grad.double() for n, p in model.named_parameters() if n in cfg["grads"]}

    model.load_state_dict(sd32)
    model = model.double()
    x = x32.double()
    model.eval()
    with torch.no_grad():
        logits = model(x)

    model.load_state_dict({k: v.double() if v.is_floating_point() else v for k, v in sd32.items()})
    model.train()
    model.zero_grad()
    out = model(x)
    train_logits, loss = main_loss(out, labels)
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
    running = {f"{n}.running_mean": flat(modules[n].running_mean) for n in cfg["bn"]}

    # sensitivity: the same float64 gradients after perturbing every weight by float32 rounding
    sd64 = {k: v.double() if v.is_floating_point() else v for k, v in sd32.items()}
    for seed in range(PERTURBATIONS):
        gen = torch.Generator().manual_seed(seed)
        model.load_state_dict({k: v * (1 + 1e-7 * torch.randn(v.shape, generator=gen, dtype=v.dtype)) if v.is_floating_point() else v for k, v in sd64.items()})
        model.zero_grad()
        main_loss(model(x), labels)[1].backward()
        params = dict(model.named_parameters())
        for name in cfg["grads"]:
            g, ref = params[name].grad.reshape(-1), grads[name]
            err = float(max(abs(float(g[i]) - v) for i, v in zip(ref["indices"], ref["values"])) / ref["max_abs"])
            ref["perturbed_err"] = max(ref.get("perturbed_err", 0.0), err)

    count = sum(p.numel() for p in model.parameters())
    default = getattr(tvm, arch)(**({"init_weights": False} if arch == "inception_v3" else {}))
    count_1000 = sum(p.numel() for p in default.parameters())
    return {
        "arch": arch,
        "num_classes": NUM_CLASSES,
        "image_size": size,
        "batch": 2,
        "input": {"name": "input", "scale": INPUT_SCALE, "shape": [2, 3, size, size]},
        "labels": LABELS,
        "options": {k: v for k, v in cfg["kwargs"].items() if k != "init_weights"},
        "weight_checks": checks,
        "param_count": count,
        "param_count_1000": count_1000,
        "eval": {"logits": flat(logits)},
        "float32_logits_max_diff": float((logits32.double() - logits).abs().max()),
        "train": {
            "logits": flat(train_logits),
            "loss": float(loss),
            "aux_weight": 0.4 if arch == "inception_v3" else 0,
            "grads": grads,
            "running_mean": running,
        },
    }


def inception_transform_input() -> dict:
    """Eval logits of inception_v3 with transform_input=True at its smallest input, 75x75."""
    model = build("inception_v3", NUM_CLASSES, transform_input=True)
    fill_deterministic(model)
    model = model.double().eval()
    with torch.no_grad():
        logits = model(inputs("inception_v3", 75).double())
    return {"image_size": 75, "logits": flat(logits)}


def pos_interp() -> dict:
    """torchvision's interpolate_embeddings on a small synthetic table (dim 8) between grids."""
    dim = 8
    cases = []
    for frm, to in [(4, 6), (4, 3), (2, 5), (14, 4)]:
        pe = torch.from_numpy(det_uniform(f"pos_interp.{frm}", (1 + frm * frm) * dim, 1.0)).reshape(1, 1 + frm * frm, dim)
        out = interpolate_embeddings(to * 16, 16, {"encoder.pos_embedding": pe.clone()})["encoder.pos_embedding"]
        cases.append({"dim": dim, "from": frm, "to": to, "name": f"pos_interp.{frm}", "output": flat(out)})
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
    todo = argv or list(ARCHS) + ["vit-pos-interp"]
    for arch in todo:
        if arch == "vit-pos-interp":
            write("vit-pos-interp.json", pos_interp())
            continue
        g = golden(arch)
        if arch == "inception_v3":
            g["eval_transform_input"] = inception_transform_input()
        write(f"{arch}.json", g)
        print(f"  {arch}: loss {g['train']['loss']:.6f}, float32 logits diff {g['float32_logits_max_diff']:.2e}")


if __name__ == "__main__":
    main(sys.argv[1:])
