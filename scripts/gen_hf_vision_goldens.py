"""Tiny Hugging Face image-classification folders and golden files (src/models/hf-vision.test.ts).

    /usr/bin/python3 scripts/gen_hf_vision_goldens.py      # ~10 s, deterministic (byte-identical reruns)

Writes:
    test/fixtures/models/hf-{resnet,vit,mobilenet_v2}-tiny/{config.json,model.safetensors,preprocessor_config.json}
    test/golden/hf-vision/<case>.json

The folders are laid out as transformers' save_pretrained writes them (safetensors metadata
format "pt", BatchNorm num_batches_tracked as int64). Their weights come from the hash formula of
src/models/vision-weights.ts (gen_vision_goldens.fill_deterministic) applied to HF's names, so a case
may also use that formula instead of a folder ("weights": "deterministic") when its config changes
parameter shapes. Input images are the same formula under the name "input" (scale 2), not stored.

Each golden runs scripts/hf_vision_reference.py (validated against torchvision) in float64 from the
float32 weights: eval logits; for "train" cases train-mode logits, cross-entropy loss, sampled
gradients of named parameters (with the full gradient's max |g| and L2 norm, and `float32_err`,
how far torch's own float32 gradient lands relative to max |g|) and BatchNorm running means after
that forward (MobileNetV2's momentum 0.997 makes them almost the batch means).
"""

from __future__ import annotations

import json
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import hf_vision_reference as ref  # noqa: E402
from gen_vision_goldens import det_uniform, fill_deterministic  # noqa: E402
from safetensors_io import save_file  # noqa: E402

ROOT = os.path.dirname(HERE)
MODELS = os.path.join(ROOT, "test", "fixtures", "models")
GOLDEN = os.path.join(ROOT, "test", "golden", "hf-vision")
MAX_FOLDER_BYTES = 1_000_000
MAX_GOLDEN_BYTES = 100_000
SAMPLES = 48  # gradient entries kept per tensor
INPUT_SCALE = 2.0
BATCH = 4
CLASS_LABELS = [0, 2, 1, 2]
LABELS = ["cat", "dog", "bird"]

torch.set_num_threads(2)

IMAGENET = dict(image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225])
HALF = dict(image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5])
COMMON = dict(do_normalize=True, do_rescale=True, do_resize=True, rescale_factor=1 / 255)

FOLDERS = {
    "hf-resnet-tiny": (
        ref.resnet_config(embedding_size=8, hidden_sizes=[16, 32, 48, 64], depths=[1, 2, 1, 1], **ref.labels_fields(LABELS)),
        dict(crop_pct=0.875, image_processor_type="ConvNextImageProcessor", resample=3, size={"shortest_edge": 32}, **IMAGENET, **COMMON),
    ),
    "hf-vit-tiny": (
        ref.vit_config(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32, image_size=32, patch_size=8, encoder_stride=8, **ref.labels_fields(LABELS)),
        dict(image_processor_type="ViTImageProcessor", resample=2, size={"height": 32, "width": 32}, **HALF, **COMMON),
    ),
    "hf-mobilenet_v2-tiny": (
        ref.mobilenet_v2_config(depth_multiplier=0.25, expand_ratio=3, depth_divisible_by=4, min_depth=4, finegrained_output=False, image_size=32, classifier_dropout_prob=0.2, **ref.labels_fields(LABELS)),
        dict(crop_size={"height": 32, "width": 32}, do_center_crop=True, image_processor_type="MobileNetV2ImageProcessor", resample=2, size={"shortest_edge": 37}, **HALF, **COMMON),
    ),
}

RESNET_GRADS = ["resnet.embedder.embedder.convolution.weight", "resnet.embedder.embedder.normalization.weight", "resnet.encoder.stages.1.layers.0.shortcut.convolution.weight", "resnet.encoder.stages.3.layers.0.layer.2.normalization.bias", "classifier.1.weight", "classifier.1.bias"]
VIT_GRADS = ["vit.embeddings.cls_token", "vit.embeddings.position_embeddings", "vit.embeddings.patch_embeddings.projection.weight", "vit.encoder.layer.0.attention.attention.query.weight", "vit.encoder.layer.1.attention.attention.value.bias", "vit.encoder.layer.1.layernorm_after.weight", "vit.layernorm.bias", "classifier.weight"]
MOBILENET_GRADS = ["mobilenet_v2.conv_stem.first_conv.convolution.weight", "mobilenet_v2.conv_stem.conv_3x3.normalization.weight", "mobilenet_v2.layer.15.conv_3x3.convolution.weight", "mobilenet_v2.conv_1x1.normalization.bias", "classifier.weight"]

# name, weights (folder or None = deterministic), config overrides (or a full config), image size, train?, grads, BatchNorms
CASES = [
    dict(name="resnet", folder="hf-resnet-tiny", overrides={}, size=32, train=True, grads=RESNET_GRADS,
         bn=["resnet.embedder.embedder.normalization", "resnet.encoder.stages.3.layers.0.layer.1.normalization"],
         description="ResNetForImageClassification, bottleneck layers (stride on the 3x3), the fixture folder"),
    dict(name="resnet-variant", folder="hf-resnet-tiny", overrides={"downsample_in_bottleneck": True, "downsample_in_first_stage": True, "hidden_act": "gelu"}, size=32, train=True,
         grads=["resnet.embedder.embedder.convolution.weight", "classifier.1.weight"], bn=["resnet.encoder.stages.0.layers.0.shortcut.normalization"],
         description="stride on the bottleneck's first 1x1, a downsampling first stage, GELU after the stem and each block (ReLU inside blocks)"),
    dict(name="resnet-basic", folder=None, config=ref.resnet_config(layer_type="basic", embedding_size=8, hidden_sizes=[8, 16, 24], depths=[2, 1, 2], **ref.labels_fields(LABELS)), size=32, train=True,
         grads=["resnet.embedder.embedder.convolution.weight", "resnet.encoder.stages.0.layers.1.layer.1.normalization.weight", "resnet.encoder.stages.2.layers.0.shortcut.convolution.weight", "classifier.1.weight"],
         bn=["resnet.encoder.stages.1.layers.0.layer.0.normalization"],
         description="basic layers (ResNet-18/34 style), deterministic weights"),
    dict(name="vit", folder="hf-vit-tiny", overrides={}, size=32, train=True, grads=VIT_GRADS, bn=[],
         description="ViTForImageClassification, the fixture folder (LayerNorm eps 1e-12)"),
    dict(name="vit-interpolated", folder="hf-vit-tiny", overrides={}, size=48, interpolate=True, train=False, grads=[], bn=[],
         description="the 32px fixture run on 48px images with interpolate_pos_encoding=True (bicubic, align_corners=False)"),
    dict(name="vit-no-qkv-bias", folder=None, config=ref.vit_config(hidden_size=12, num_hidden_layers=1, num_attention_heads=3, intermediate_size=20, image_size=24, patch_size=6, qkv_bias=False, hidden_act="gelu_new", layer_norm_eps=1e-6, **ref.labels_fields(LABELS)),
         size=24, train=True, grads=["vit.encoder.layer.0.attention.attention.key.weight", "classifier.bias"], bn=[],
         description="qkv_bias false, gelu_new, 3 heads, deterministic weights"),
    dict(name="mobilenet_v2", folder="hf-mobilenet_v2-tiny", overrides={"classifier_dropout_prob": 0.0}, size=48, train=True, grads=MOBILENET_GRADS,
         bn=["mobilenet_v2.conv_stem.first_conv.normalization", "mobilenet_v2.layer.10.expand_1x1.normalization"],
         description="MobileNetV2ForImageClassification with tf_padding (TF SAME: asymmetric at stride 2 on even sides, 1/1 on the odd 3x3 map), the fixture folder, dropout off"),
    dict(name="mobilenet_v2-no-tf-padding", folder="hf-mobilenet_v2-tiny", overrides={"classifier_dropout_prob": 0.0, "tf_padding": False, "output_stride": 16}, size=32, train=True,
         grads=["mobilenet_v2.conv_stem.first_conv.convolution.weight", "mobilenet_v2.layer.14.conv_3x3.convolution.weight"], bn=["mobilenet_v2.layer.14.conv_3x3.normalization"],
         description="tf_padding false (torchvision's symmetric padding), output_stride 16 (dilated depthwise convs in the last stage)"),
    dict(name="mobilenet_v2-variant", folder=None, config=ref.mobilenet_v2_config(depth_multiplier=0.35, first_layer_is_expansion=False, finegrained_output=True, output_stride=8, classifier_dropout_prob=0.0, image_size=35, **ref.labels_fields(LABELS)),
         size=35, train=True, grads=["mobilenet_v2.conv_stem.expand_1x1.convolution.weight", "mobilenet_v2.layer.3.conv_3x3.convolution.weight"], bn=["mobilenet_v2.conv_stem.expand_1x1.normalization"],
         description="an odd image side (35: TF padding 1/1 at stride 2), a stem expand_1x1, depth multiplier 0.35 (Python rounding), output_stride 8, 1280 output channels, deterministic weights"),
]


def write_json(path: str, obj) -> int:
    text = json.dumps(obj, indent=1) + "\n"
    with open(path, "w") as f:
        f.write(text)
    return len(text)


def write_folder(name: str) -> None:
    config, pre = FOLDERS[name]
    model = ref.build_model(config)
    fill_deterministic(model)
    d = os.path.join(MODELS, name)
    os.makedirs(d, exist_ok=True)
    tensors = {k: (v.to(torch.int64) if k.endswith("num_batches_tracked") else v.float()) for k, v in model.state_dict().items()}
    save_file(tensors, os.path.join(d, "model.safetensors"), metadata={"format": "pt"})
    write_json(os.path.join(d, "config.json"), {**dict(sorted(config.items())), "torch_dtype": "float32", "transformers_version": "4.46.0"})
    write_json(os.path.join(d, "preprocessor_config.json"), dict(sorted(pre.items())))
    size = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
    assert size < MAX_FOLDER_BYTES, (name, size)
    print(f"{name}: {size} bytes, {len(tensors)} tensors")


def case_model(case: dict) -> tuple[dict, torch.nn.Module]:
    """The case's config and a float32 model with its weights."""
    if case["folder"]:
        config = {**FOLDERS[case["folder"]][0], **case["overrides"]}
    else:
        config = case["config"]
    model = ref.build_model(config)
    fill_deterministic(model)  # the folders hold exactly these values
    return config, model


def sample(n: int) -> list[int]:
    if n <= SAMPLES:
        return list(range(n))
    return sorted({round(i * (n - 1) / (SAMPLES - 1)) for i in range(SAMPLES)})


def flat(t: torch.Tensor) -> list[float]:
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def run(model: torch.nn.Module, x: torch.Tensor, case: dict, train: bool):
    model.train(train)
    labels = torch.tensor(CLASS_LABELS[: x.shape[0]])
    out = model(x, labels=labels, interpolate_pos_encoding=case.get("interpolate", False))
    grads = {}
    if train:
        params = dict(model.named_parameters())
        gs = torch.autograd.grad(out["loss"], [params[n] for n in case["grads"]])
        grads = dict(zip(case["grads"], gs))
    return out, grads


def golden(case: dict) -> dict:
    config, model32 = case_model(case)
    size = case["size"]
    x32 = torch.from_numpy(det_uniform("input", BATCH * 3 * size * size, INPUT_SCALE)).reshape(BATCH, 3, size, size)
    model64 = ref.build_model(config).double()
    model64.load_state_dict({k: v.double() if v.is_floating_point() else v for k, v in model32.state_dict().items()})
    ev64, _ = run(model64, x32.double(), case, False)
    with torch.no_grad():
        ev32, _ = run(model32, x32, case, False)
    logits = ev64["logits"]
    g = {
        "name": case["name"],
        "description": case["description"],
        "hf_class": ref.HF_CLASSES[config["model_type"]],
        "weights": f"test/fixtures/models/{case['folder']}" if case["folder"] else "deterministic",
        "config": config,
        "image_size": size,
        "interpolate_pos_encoding": case.get("interpolate", False),
        "batch": BATCH,
        "input": {"name": "input", "scale": INPUT_SCALE},
        "labels": CLASS_LABELS[:BATCH],
        "eval": {"logits": flat(logits), "float32_max_rel_diff": ((ev32["logits"].double() - logits).abs().max() / logits.abs().max()).item()},
    }
    if case["train"]:
        fresh64 = ref.build_model(config).double()
        fresh64.load_state_dict(model64.state_dict())
        tr64, gr64 = run(fresh64, x32.double(), case, True)
        fresh32 = ref.build_model(config)
        fresh32.load_state_dict(model32.state_dict())
        _, gr32 = run(fresh32, x32, case, True)
        grads = {}
        for n, t in gr64.items():
            full = t.reshape(-1)
            idx = sample(full.numel())
            m = full.abs().max().item()
            grads[n] = {
                "shape": list(t.shape),
                "indices": idx,
                "values": [full[i].item() for i in idx],
                "max_abs": m,
                "l2": full.norm().item(),
                "float32_err": ((gr32[n].double().reshape(-1) - full).abs().max() / m).item(),
            }
        bufs = dict(fresh64.named_buffers())
        g["train"] = {
            "logits": flat(tr64["logits"]),
            "loss": tr64["loss"].item(),
            "grads": grads,
            "running_mean": {f"{b}.running_mean": flat(bufs[f"{b}.running_mean"]) for b in case["bn"]},
        }
    return g


def main() -> None:
    os.makedirs(GOLDEN, exist_ok=True)
    for name in FOLDERS:
        write_folder(name)
    for case in CASES:
        g = golden(case)
        n = write_json(os.path.join(GOLDEN, f"{case['name']}.json"), g)
        assert n < MAX_GOLDEN_BYTES, (case["name"], n)
        worst = max([gg["float32_err"] for gg in g.get("train", {}).get("grads", {}).values()] or [0])
        print(f"{case['name']}: {n} bytes; |logit| max {max(abs(v) for v in g['eval']['logits']):.3g}, float32 logits {g['eval']['float32_max_rel_diff']:.1e}, worst float32 grad {worst:.1e}")


if __name__ == "__main__":
    main()
