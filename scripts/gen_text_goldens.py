"""Generate tiny HF-layout text checkpoints and golden files from the PyTorch reference.

    /usr/bin/python3 scripts/gen_text_goldens.py

Writes (deterministic: fixed seeds, per-tensor seeds derived from the parameter name):
    test/fixtures/models/{bert,distilbert,roberta,gpt2}-tiny/{config.json,model.safetensors}
    test/golden/text/<family>-<head>.json        forward outputs, loss, gradients
    test/golden/text/bert-adamw-step.json        one AdamW step of bert-tiny sequence classification

Every checkpoint holds the union of the weights its family's heads read (HF keys; a
save_pretrained of GPT2LMHeadModel leaves the tied lm_head.weight out, so it is absent here too).
A loader must ignore keys its head does not use, as from_pretrained does; each golden lists the
keys its model reads under "state_keys".

Goldens are computed in float64 from the float32 checkpoint values with dropout off (eval mode);
"float32_max_abs_diff" says how far the same computation in float32 lands, as a guide to tolerances.
See scripts/README-goldens.md.
"""

from __future__ import annotations

import json
import os
import sys
import zlib

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import text_reference as ref  # noqa: E402
from safetensors_io import load_file, save_file  # noqa: E402

ROOT = os.path.dirname(HERE)
MODELS_DIR = os.path.join(ROOT, "test", "fixtures", "models")
GOLDEN_DIR = os.path.join(ROOT, "test", "golden", "text")
MAX_GOLDEN_BYTES = 200_000

LABELS = ["negative", "neutral", "positive"]
LABEL_FIELDS = {
    "id2label": {str(i): n for i, n in enumerate(LABELS)},
    "label2id": {n: i for i, n in enumerate(LABELS)},
}

# ----------------------------------------------------------------------------- configs

CONFIGS = {
    "bert": ref.bert_config(
        vocab_size=100,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=64,
        type_vocab_size=2,
        pad_token_id=0,
        hidden_act="gelu",
        layer_norm_eps=1e-12,
        architectures=["BertForSequenceClassification"],
        **LABEL_FIELDS,
    ),
    "distilbert": ref.distilbert_config(
        vocab_size=100,
        dim=32,
        n_layers=2,
        n_heads=4,
        hidden_dim=64,
        max_position_embeddings=64,
        pad_token_id=0,
        activation="gelu",
        architectures=["DistilBertForSequenceClassification"],
        **LABEL_FIELDS,
    ),
    "roberta": ref.roberta_config(
        vocab_size=100,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=64,
        type_vocab_size=1,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
        hidden_act="gelu",
        layer_norm_eps=1e-05,
        architectures=["RobertaForSequenceClassification"],
        **LABEL_FIELDS,
    ),
    "gpt2": ref.gpt2_config(
        vocab_size=100,
        n_embd=32,
        n_layer=2,
        n_head=4,
        n_inner=64,
        n_positions=64,
        activation_function="gelu_new",
        layer_norm_epsilon=1e-05,
        bos_token_id=99,
        eos_token_id=99,
        pad_token_id=0,
        architectures=["GPT2LMHeadModel"],
        **LABEL_FIELDS,
    ),
}
CONFIGS = {k: dict(sorted(v.items())) for k, v in CONFIGS.items()}

FAMILY_HEADS = {
    "bert": ["base", "sequence-classification", "token-classification", "masked-lm"],
    "distilbert": ["base", "sequence-classification", "token-classification"],
    "roberta": ["base", "sequence-classification", "token-classification"],
    "gpt2": ["base", "sequence-classification", "causal-lm"],
}

# ----------------------------------------------------------------------------- inputs
# batch 2 x length 7; row 1 is padded (right padding unless the case says otherwise)

BERT_IDS = [[2, 17, 45, 88, 3, 63, 3], [2, 29, 71, 3, 54, 0, 0]]  # [CLS]=2 [SEP]=3 [PAD]=0
BERT_TYPES = [[0, 0, 0, 0, 0, 1, 1], [0, 0, 0, 0, 1, 0, 0]]
ROBERTA_IDS = [[0, 17, 45, 88, 63, 9, 2], [0, 29, 71, 54, 2, 1, 1]]  # <s>=0 </s>=2 <pad>=1
GPT2_IDS = [[17, 45, 88, 63, 9, 31, 5], [29, 71, 54, 12, 40, 0, 0]]  # pad_token_id=0
GPT2_IDS_LEFT = [[17, 45, 88, 63, 9, 31, 5], [0, 0, 29, 71, 54, 12, 40]]

SEQ_LABELS = [2, 0]
REGRESSION_LABELS = [0.75, -1.5]
MULTI_LABELS = [[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]
# -100 on special tokens and padding, as HF's token-classification examples label them
TOKEN_LABELS = [[-100, 1, 2, 0, -100, 1, -100], [-100, 2, 2, -100, 0, -100, -100]]
# masked LM with a fixed mask: [MASK]=4 at two positions of row 0, a random replacement (9) at one
# and an unchanged chosen token (54) in row 1; labels are the original ids there, -100 elsewhere
MLM_IDS = [[2, 4, 45, 88, 3, 4, 3], [2, 29, 9, 3, 54, 0, 0]]
MLM_LABELS = [[-100, 17, -100, -100, -100, 63, -100], [-100, -100, 71, -100, 54, -100, -100]]


def family_inputs(family: str, left_padded: bool = False, input_ids=None) -> dict:
    if input_ids is not None:
        ids, pad = input_ids, CONFIGS[family]["pad_token_id"]
    elif family in ("bert", "distilbert"):
        ids, pad = BERT_IDS, CONFIGS[family]["pad_token_id"]
    elif family == "roberta":
        ids, pad = ROBERTA_IDS, CONFIGS[family]["pad_token_id"]
    else:
        ids, pad = (GPT2_IDS_LEFT if left_padded else GPT2_IDS), CONFIGS[family]["pad_token_id"]
    inputs = {"input_ids": ids, "attention_mask": [[0 if t == pad else 1 for t in row] for row in ids]}
    if family == "bert":
        inputs["token_type_ids"] = BERT_TYPES
    return inputs


# ----------------------------------------------------------------------------- weights


def init_tensor(name: str, shape) -> torch.Tensor:
    """Non-trivial float32 init seeded by the parameter name: weights/embeddings N(0, 0.2),
    biases N(0, 0.1), LayerNorm weights 1 + N(0, 0.1)."""
    g = torch.Generator().manual_seed(zlib.crc32(name.encode()) + 1234)
    z = torch.randn(tuple(shape), generator=g, dtype=torch.float32)
    leaf = name.split(".")
    is_ln = any(p in ("LayerNorm", "sa_layer_norm", "output_layer_norm", "ln_1", "ln_2", "ln_f") for p in leaf)
    if name.endswith(".bias"):
        return 0.1 * z
    if is_ln and name.endswith(".weight"):
        return 1.0 + 0.1 * z
    return 0.2 * z


def make_checkpoint(family: str) -> dict:
    """Union of the keys every head of the family reads, named as a head model saves them."""
    prefix = ref.BASE_PREFIX[family] + "."
    shapes = {}
    for head in FAMILY_HEADS[family]:
        model = ref.build_model(family, head, CONFIGS[family])
        for k, v in ref.checkpoint_state_dict(model).items():
            k = prefix + k if head == "base" else k  # a base model's keys lack the prefix
            if k in shapes and shapes[k] != tuple(v.shape):
                raise ValueError(f"{family}: {k} has shapes {shapes[k]} and {tuple(v.shape)}")
            shapes[k] = tuple(v.shape)
    return {k: init_tensor(k, shapes[k]) for k in sorted(shapes)}


def write_checkpoint(family: str) -> dict:
    folder = os.path.join(MODELS_DIR, f"{family}-tiny")
    os.makedirs(folder, exist_ok=True)
    tensors = make_checkpoint(family)
    save_file(tensors, os.path.join(folder, "model.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(CONFIGS[family], f, indent=2, sort_keys=True)
        f.write("\n")
    back = load_file(os.path.join(folder, "model.safetensors"))  # read back what a loader will see
    assert set(back) == set(tensors) and all(torch.equal(back[k], tensors[k]) for k in tensors)
    return back


# ----------------------------------------------------------------------------- goldens


def fmt(x: float) -> float:
    return float(f"{x:.10g}")


def tensor_json(t: torch.Tensor) -> dict:
    t = t.detach().to(torch.float64).contiguous()
    return {"shape": list(t.shape), "data": [fmt(v) for v in t.reshape(-1).tolist()]}


GRAD_PARAMS = {
    "bert": [
        "bert.embeddings.word_embeddings.weight",
        "bert.embeddings.token_type_embeddings.weight",
        "bert.encoder.layer.0.attention.self.query.weight",
        "bert.encoder.layer.0.attention.output.LayerNorm.weight",
        "bert.encoder.layer.1.output.dense.bias",
        "bert.pooler.dense.weight",
        "classifier.weight",
        "classifier.bias",
        "cls.predictions.transform.dense.weight",
        "cls.predictions.transform.LayerNorm.weight",
        "cls.predictions.bias",
    ],
    "distilbert": [
        "distilbert.embeddings.word_embeddings.weight",
        "distilbert.transformer.layer.0.attention.q_lin.weight",
        "distilbert.transformer.layer.0.sa_layer_norm.weight",
        "distilbert.transformer.layer.1.ffn.lin2.bias",
        "pre_classifier.weight",
        "classifier.weight",
        "classifier.bias",
    ],
    "roberta": [
        "roberta.embeddings.word_embeddings.weight",
        "roberta.embeddings.position_embeddings.weight",
        "roberta.encoder.layer.0.attention.self.query.weight",
        "roberta.encoder.layer.0.output.LayerNorm.bias",
        "roberta.encoder.layer.1.output.dense.bias",
        "classifier.dense.weight",
        "classifier.out_proj.weight",
        "classifier.weight",
        "classifier.bias",
    ],
    "gpt2": [
        "transformer.wte.weight",
        "transformer.h.0.attn.c_attn.weight",
        "transformer.h.0.ln_1.weight",
        "transformer.h.1.mlp.c_proj.bias",
        "transformer.ln_f.weight",
        "score.weight",
    ],
}


def build_loaded(family: str, head: str, config: dict, tensors: dict, overrides: dict, dtype):
    model = ref.build_model(family, head, config)
    ref.load_checkpoint(model, family, {**tensors, **overrides})
    model = model.to(dtype)
    model.eval()
    return model


def run(model, inputs: dict, labels, labels_dtype):
    kw = {k: torch.tensor(v) for k, v in inputs.items()}
    if labels is not None:
        kw["labels"] = torch.tensor(labels, dtype=labels_dtype)
    model.zero_grad(set_to_none=True)
    out = model(**kw)
    if "loss" in out:
        out["loss"].backward()
    return out


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.detach().double() - b.detach().double()).abs().max())


def golden_case(family: str, head: str, tensors: dict, *, name: str, config_overrides=None,
                weight_overrides=None, labels=None, labels_dtype=torch.long, left_padded=False,
                input_ids=None, description: str = "") -> dict:
    config = dict(sorted({**CONFIGS[family], **(config_overrides or {})}.items()))
    overrides = weight_overrides or {}
    inputs = family_inputs(family, left_padded, input_ids)
    m64 = build_loaded(family, head, config, tensors, overrides, torch.float64)
    m32 = build_loaded(family, head, config, tensors, overrides, torch.float32)
    o64 = run(m64, inputs, labels, labels_dtype)
    o32 = run(m32, inputs, labels, labels_dtype)

    golden = {
        "description": description,
        "family": family,
        "head": head,
        "hf_class": ref.hf_class_name(family, head),
        "checkpoint": f"test/fixtures/models/{family}-tiny",
        "config": config,
    }
    if config_overrides:
        golden["config_overrides"] = config_overrides
    if overrides:
        golden["weight_overrides"] = {k: tensor_json(v) for k, v in overrides.items()}
    golden["state_keys"] = sorted(ref.checkpoint_state_dict(m64).keys())
    golden["precision"] = "float64 forward and backward from the float32 checkpoint values; eval mode (dropout off)"
    g_inputs = dict(inputs)
    if labels is not None:
        g_inputs["labels"] = labels
        g_inputs["labels_dtype"] = "int64" if labels_dtype == torch.long else "float32"
    golden["inputs"] = g_inputs

    outputs, diffs = {}, {}
    if head == "base":
        outputs["last_hidden_state"] = tensor_json(o64["last_hidden_state"])
        diffs["last_hidden_state"] = max_diff(o64["last_hidden_state"], o32["last_hidden_state"])
        if "pooler_output" in o64:
            outputs["pooler_output"] = tensor_json(o64["pooler_output"])
            diffs["pooler_output"] = max_diff(o64["pooler_output"], o32["pooler_output"])
        outputs["hidden_states"] = [tensor_json(h) for h in o64["hidden_states"]]
    else:
        outputs["logits"] = tensor_json(o64["logits"])
        diffs["logits"] = max_diff(o64["logits"], o32["logits"])
        if "pooled_index" in o64:
            outputs["pooled_index"] = o64["pooled_index"].tolist()
        if "loss" in o64:
            outputs["loss"] = fmt(float(o64["loss"]))
            diffs["loss"] = abs(float(o64["loss"]) - float(o32["loss"]))
        if "problem_type" in o64:
            outputs["problem_type"] = o64["problem_type"]
    golden["outputs"] = outputs

    if "loss" in o64:
        p64 = dict(m64.named_parameters())
        p32 = dict(m32.named_parameters())
        grads, gd = {}, 0.0
        for pname in GRAD_PARAMS[family]:
            if pname not in p64:
                continue
            grads[pname] = tensor_json(p64[pname].grad)
            gd = max(gd, max_diff(p64[pname].grad, p32[pname].grad))
        golden["grads"] = grads
        diffs["grads"] = gd
    golden["float32_max_abs_diff"] = {k: float(f"{v:.3g}") for k, v in diffs.items()}
    write_golden(name, golden)
    return golden


def write_golden(name: str, golden: dict) -> None:
    os.makedirs(GOLDEN_DIR, exist_ok=True)
    path = os.path.join(GOLDEN_DIR, f"{name}.json")
    text = json.dumps(golden, separators=(",", ":"))
    if len(text) > MAX_GOLDEN_BYTES:
        raise ValueError(f"{path} would be {len(text)} bytes (limit {MAX_GOLDEN_BYTES})")
    with open(path, "w") as f:
        f.write(text + "\n")
    print(f"wrote {os.path.relpath(path, ROOT)} ({len(text)} bytes)")


# ----------------------------------------------------------------------------- AdamW step

ADAMW = {"lr": 1e-3, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.01}
ADAMW_PARAMS = [
    "bert.embeddings.word_embeddings.weight",
    "bert.embeddings.LayerNorm.weight",
    "bert.encoder.layer.0.attention.self.query.weight",
    "bert.encoder.layer.0.attention.self.query.bias",
    "bert.encoder.layer.0.attention.output.LayerNorm.weight",
    "bert.encoder.layer.1.output.dense.bias",
    "bert.pooler.dense.weight",
    "classifier.weight",
    "classifier.bias",
]


def adamw_step(model, inputs, labels, max_grad_norm):
    """One HF-Trainer-style step: backward, optional global-norm clipping, torch AdamW with the
    Trainer's two parameter groups. Returns (loss before, grad norm, loss after)."""
    decay = set(ref.trainer_decay_parameter_names(model))
    named = list(model.named_parameters())
    groups = [
        {"params": [p for n, p in named if n in decay], "weight_decay": ADAMW["weight_decay"]},
        {"params": [p for n, p in named if n not in decay], "weight_decay": 0.0},
    ]
    opt = torch.optim.AdamW(groups, lr=ADAMW["lr"], betas=tuple(ADAMW["betas"]), eps=ADAMW["eps"])
    out = run(model, inputs, labels, torch.long)
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm if max_grad_norm else float("inf"))
    opt.step()
    model.zero_grad(set_to_none=True)
    with torch.no_grad():
        after = model(**{k: torch.tensor(v) for k, v in inputs.items()}, labels=torch.tensor(labels))
    return float(out["loss"]), float(norm), float(after["loss"])


def adamw_golden(tensors: dict) -> None:
    family, head = "bert", "sequence-classification"
    config = CONFIGS[family]
    inputs = family_inputs(family)
    golden = {
        "description": "One AdamW step of bert-tiny sequence classification (single label), as HF Trainer "
                       "groups parameters: weight decay on every parameter except biases and LayerNorm "
                       "weights/biases. torch.optim.AdamW semantics (decoupled decay p -= lr*wd*p, "
                       "bias-corrected moments, eps added after the square root). 'unclipped' has no "
                       "gradient clipping; 'clipped' clips the global L2 norm to max_grad_norm=1.0 first "
                       "(HF Trainer's default; clip coefficient max_norm / (norm + 1e-6)).",
        "family": family,
        "head": head,
        "hf_class": ref.hf_class_name(family, head),
        "checkpoint": f"test/fixtures/models/{family}-tiny",
        "config": config,
        "precision": "float64 from the float32 checkpoint values; eval mode (dropout off)",
        "optimizer": {"name": "AdamW", **ADAMW},
        "inputs": {**inputs, "labels": SEQ_LABELS, "labels_dtype": "int64"},
    }
    probe = ref.build_model(family, head, config)
    decay = ref.trainer_decay_parameter_names(probe)
    golden["decay_parameters"] = decay
    golden["no_decay_parameters"] = [n for n, _ in probe.named_parameters() if n not in set(decay)]
    diffs = {}
    for variant, max_norm in (("unclipped", None), ("clipped", 1.0)):
        m64 = build_loaded(family, head, config, tensors, {}, torch.float64)
        m32 = build_loaded(family, head, config, tensors, {}, torch.float32)
        loss, norm, loss_after = adamw_step(m64, inputs, SEQ_LABELS, max_norm)
        adamw_step(m32, inputs, SEQ_LABELS, max_norm)
        p64, p32 = dict(m64.named_parameters()), dict(m32.named_parameters())
        golden[variant] = {
            "max_grad_norm": max_norm,
            "loss": fmt(loss),
            "grad_norm": fmt(norm),
            "loss_after_step": fmt(loss_after),
            "params_after": {n: tensor_json(p64[n]) for n in ADAMW_PARAMS},
        }
        diffs[variant] = float(f"{max(max_diff(p64[n], p32[n]) for n in ADAMW_PARAMS):.3g}")
    golden["float32_max_abs_diff"] = {"params_after": diffs}
    write_golden("bert-adamw-step", golden)


# ----------------------------------------------------------------------------- main


def main() -> None:
    torch.manual_seed(0)
    torch.use_deterministic_algorithms(True)
    for family in CONFIGS:
        tensors = write_checkpoint(family)
        print(f"wrote test/fixtures/models/{family}-tiny ({len(tensors)} tensors)")
        golden_case(family, "base", tensors, name=f"{family}-base",
                    description=f"{ref.hf_class_name(family, 'base')} hidden states (HF hidden_states: "
                                "embedding output, then each layer"
                                + ("; the last one after ln_f" if family == "gpt2" else "") + ").")
        golden_case(family, "sequence-classification", tensors, name=f"{family}-sequence-classification",
                    labels=SEQ_LABELS,
                    description="Single-label sequence classification (cross-entropy); problem_type inferred "
                                "from num_labels=3 and integer labels.")
        if family == "gpt2":
            golden_case(family, "sequence-classification", tensors,
                        name="gpt2-sequence-classification-left-padded", labels=SEQ_LABELS, left_padded=True,
                        description="GPT-2 sequence classification with a left-padded row: pooling takes the "
                                    "rightmost non-pad token; position ids stay 0..T-1.")
            lm_labels = [[t if t != CONFIGS[family]["pad_token_id"] else -100 for t in row] for row in GPT2_IDS]
            golden_case(family, "causal-lm", tensors, name="gpt2-causal-lm", labels=lm_labels,
                        description="Causal LM with lm_head tied to wte (absent from the checkpoint); labels "
                                    "are input_ids with padding set to -100 and are shifted inside the loss.")
        else:
            golden_case(family, "token-classification", tensors, name=f"{family}-token-classification",
                        labels=TOKEN_LABELS,
                        description="Token classification; label -100 is ignored by the mean cross-entropy.")
        if family == "bert":
            golden_case(family, "masked-lm", tensors, name="bert-masked-lm", labels=MLM_LABELS, input_ids=MLM_IDS,
                        description="BertForMaskedLM with a fixed BERT-style mask ([MASK]=4 twice, one random "
                                    "replacement, one chosen token left as it was): cls.predictions.transform "
                                    "(dense, gelu, LayerNorm), decoder tied to the word embeddings (absent "
                                    "from the checkpoint) plus cls.predictions.bias; cross-entropy over the "
                                    "labelled positions, -100 ignored.")
            w, b = tensors["classifier.weight"][:1].clone(), tensors["classifier.bias"][:1].clone()
            golden_case(family, "sequence-classification", tensors,
                        name="bert-sequence-classification-regression",
                        config_overrides={"id2label": {"0": "LABEL_0"}, "label2id": {"LABEL_0": 0}},
                        weight_overrides={"classifier.weight": w, "classifier.bias": b},
                        labels=REGRESSION_LABELS, labels_dtype=torch.float32,
                        description="Regression (num_labels=1, problem_type inferred): MSE between "
                                    "logits.squeeze() and labels. The classifier is row 0 of the "
                                    "checkpoint's 3-label classifier, given under weight_overrides.")
            golden_case(family, "sequence-classification", tensors,
                        name="bert-sequence-classification-multi-label",
                        config_overrides={"problem_type": "multi_label_classification"},
                        labels=MULTI_LABELS, labels_dtype=torch.float32,
                        description="Multi-label classification: mean BCE-with-logits over batch x labels.")
            adamw_golden(tensors)


if __name__ == "__main__":
    main()
