"""Generate a PEFT-layout LoRA adapter for test/fixtures/models/bert-tiny and its golden logits.

    /usr/bin/python3 scripts/gen_peft_fixture.py

PEFT itself cannot be installed here (no PyPI), so the adapter is written from PEFT's documented
format (docs/source/developer_guides/checkpoint.md: keys "base_model.model.<module>.lora_A.weight",
adapter name stripped; modules_to_save saved under the module's own name; adapter_config.json with
LoraConfig's field names) and applied with PEFT's LoRA forward (src/peft/tuners/lora/layer.py,
Linear.forward): result = base_layer(x) + lora_B(lora_A(dropout(x))) * scaling, scaling =
lora_alpha / r (lora_alpha / sqrt(r) with use_rslora). The reference is scripts/text_reference.py's
BertForSequenceClassification, whose parameter names are transformers'.

Writes:
    test/fixtures/peft/bert-tiny-lora/{adapter_config.json, adapter_model.safetensors}
    test/golden/peft/bert-tiny-lora.json   logits (float64) of the base + adapter on fixed inputs
"""

from __future__ import annotations

import json
import math
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import text_reference as ref  # noqa: E402
from safetensors_io import load_file, save_file  # noqa: E402

ROOT = os.path.dirname(HERE)
BASE = os.path.join(ROOT, "test", "fixtures", "models", "bert-tiny")
OUT = os.path.join(ROOT, "test", "fixtures", "peft", "bert-tiny-lora")
GOLDEN = os.path.join(ROOT, "test", "golden", "peft", "bert-tiny-lora.json")

R, ALPHA, RSLORA = 4, 8.0, True
TARGETS = ["query", "value"]
IDS = [[2, 17, 45, 88, 3, 63, 3], [2, 29, 71, 3, 54, 0, 0]]
TYPES = [[0, 0, 0, 0, 0, 1, 1], [0, 0, 0, 0, 1, 0, 0]]


class LoraLinear(torch.nn.Module):
    """PEFT's lora.Linear forward for one adapter, no dropout (eval)."""

    def __init__(self, base: torch.nn.Linear, a: torch.Tensor, b: torch.Tensor, scaling: float):
        super().__init__()
        self.base, self.a, self.b, self.scaling = base, a, b, scaling

    def forward(self, x):
        return self.base(x) + (x @ self.a.T) @ self.b.T * self.scaling


def main() -> None:
    torch.manual_seed(0)
    config = json.load(open(os.path.join(BASE, "config.json")))
    model = ref.build_model("bert", "sequence-classification", config).double()
    tensors = {k: v.double() for k, v in load_file(os.path.join(BASE, "model.safetensors")).items()}
    ref.load_checkpoint(model, "bert", tensors)
    model.eval()
    scaling = ALPHA / math.sqrt(R) if RSLORA else ALPHA / R
    adapter = {}
    gen = torch.Generator().manual_seed(1234)
    for name, module in list(model.named_modules()):
        leaf = name.split(".")[-1]
        if leaf not in TARGETS or not isinstance(module, torch.nn.Linear):
            continue
        fan_in, fan_out = module.in_features, module.out_features
        a = (torch.rand(R, fan_in, generator=gen, dtype=torch.float64) * 2 - 1) / math.sqrt(fan_in)
        b = torch.randn(fan_out, R, generator=gen, dtype=torch.float64) * 0.2  # trained: B is no longer zero
        a, b = a.float().double(), b.float().double()  # the values the float32 file holds
        parent = model.get_submodule(name.rsplit(".", 1)[0])
        setattr(parent, leaf, LoraLinear(module, a, b, scaling))
        adapter[f"base_model.model.{name}.lora_A.weight"] = a.float()
        adapter[f"base_model.model.{name}.lora_B.weight"] = b.float()
    # modules_to_save: the classifier, trained in full (new values), saved under its own name
    w = (torch.randn(model.classifier.weight.shape, generator=gen, dtype=torch.float64) * 0.3).float()
    bias = (torch.randn(model.classifier.bias.shape, generator=gen, dtype=torch.float64) * 0.1).float()
    with torch.no_grad():
        model.classifier.weight.copy_(w.double())
        model.classifier.bias.copy_(bias.double())
    adapter["base_model.model.classifier.weight"] = w
    adapter["base_model.model.classifier.bias"] = bias
    os.makedirs(OUT, exist_ok=True)
    save_file(adapter, os.path.join(OUT, "adapter_model.safetensors"), metadata={"format": "pt"})
    cfg = {
        "alpha_pattern": {},
        "auto_mapping": None,
        "base_model_name_or_path": "bert-tiny",
        "bias": "none",
        "fan_in_fan_out": False,
        "inference_mode": True,
        "init_lora_weights": True,
        "layers_pattern": None,
        "layers_to_transform": None,
        "lora_alpha": ALPHA,
        "lora_dropout": 0.1,
        "modules_to_save": ["classifier", "score"],
        "peft_type": "LORA",
        "r": R,
        "rank_pattern": {},
        "revision": None,
        "target_modules": TARGETS,
        "task_type": "SEQ_CLS",
        "use_dora": False,
        "use_rslora": RSLORA,
    }
    json.dump(cfg, open(os.path.join(OUT, "adapter_config.json"), "w"), indent=2)
    ids = torch.tensor(IDS)
    mask = (ids != 0).long()
    with torch.no_grad():
        logits = model(ids, attention_mask=mask, token_type_ids=torch.tensor(TYPES))["logits"]
    os.makedirs(os.path.dirname(GOLDEN), exist_ok=True)
    json.dump({"input_ids": IDS, "token_type_ids": TYPES, "attention_mask": mask.tolist(), "logits": logits.tolist(), "scaling": scaling}, open(GOLDEN, "w"), indent=1)
    print(f"wrote {OUT} ({len(adapter)} tensors) and {GOLDEN}")


if __name__ == "__main__":
    main()
