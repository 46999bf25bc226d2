"""Golden files for Wav2Vec2ForSequenceClassification (src/models/wav2vec2-classifier.test.ts).

The reference is torchaudio 0.13's wav2vec2_model (Debian), the same model the CTC goldens use
(scripts/gen_wav2vec2_goldens.py, HF's names mapped one to one), loaded with the weights of the
committed tiny CTC folders, plus Hugging Face's sequence-classification head written out from its
modeling code: per-clip normalisation as Wav2Vec2FeatureExtractor does it (zero mean, unit variance,
+1e-7), output_hidden_states (the encoder's input, then each layer's output; the stable-layer-norm
variant's final norm on the last), use_weighted_layer_sum (softmax(layer_weights)), projector, mean
over frames (no attention mask), classifier, cross-entropy. The script checks that its last hidden
state equals torchaudio's own encoder output before writing anything.

    /usr/bin/python3 scripts/gen_wav2vec2_seqcls_goldens.py      # ~2 s, deterministic

Writes test/golden/wav2vec2/seqcls-{group,layer}.json: the head's weights, input clips, logits, loss,
sampled gradients.
"""

from __future__ import annotations

import json
import os
import sys

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from gen_wav2vec2_goldens import GOLDEN, MODELS, build, hf_key, sample  # noqa: E402
from safetensors_io import load_file  # noqa: E402

CASES = [
    dict(name="seqcls-group", folder="wav2vec2-group-tiny", weighted=True, proj=24, labels=3, targets=[2, 0], seed=11),
    dict(name="seqcls-layer", folder="wav2vec2-layer-tiny", weighted=False, proj=16, labels=4, targets=[1, 3], seed=12),
]
GRADS = [
    "wav2vec2.feature_extractor.conv_layers.0.conv.weight", "wav2vec2.feature_projection.projection.weight",
    "wav2vec2.encoder.pos_conv_embed.conv.weight_v", "wav2vec2.encoder.layer_norm.weight",
    "wav2vec2.encoder.layers.0.attention.q_proj.weight", "wav2vec2.encoder.layers.1.feed_forward.output_dense.weight",
    "layer_weights", "projector.weight", "projector.bias", "classifier.weight", "classifier.bias",
]


def hidden_states(model, x: torch.Tensor) -> list[torch.Tensor]:
    feats, _ = model.feature_extractor(x, None)
    h = model.encoder.feature_projection(feats)
    t = model.encoder.transformer
    h = t._preprocess(h)
    states = []
    for layer in t.layers:
        states.append(h)
        h = layer(h, None)
    if not t.layer_norm_first:  # torchaudio's flag is the inverse of HF's do_stable_layer_norm
        h = t.layer_norm(h)
    states.append(h)
    assert torch.allclose(states[-1], model.encoder(feats, None), atol=1e-12), "hidden states disagree with torchaudio's encoder"
    return states


def run(case: dict) -> dict:
    folder = os.path.join(MODELS, case["folder"])
    with open(os.path.join(folder, "config.json")) as f:
        cfg = json.load(f)
    model = build(cfg)
    tensors = load_file(os.path.join(folder, "model.safetensors"))
    ours = {hf_key(k): k for k in model.state_dict()}
    model.load_state_dict({ours[k]: torch.as_tensor(v) for k, v in tensors.items() if k in ours})
    model = model.double().train()
    g = torch.Generator().manual_seed(case["seed"])
    H, P, C, L = cfg["hidden_size"], case["proj"], case["labels"], cfg["num_hidden_layers"] + 1
    projector = torch.nn.Linear(H, P).double()
    classifier = torch.nn.Linear(P, C).double()
    with torch.no_grad():
        for p in [*projector.parameters(), *classifier.parameters()]:
            p.copy_(0.3 * torch.randn(p.shape, generator=g, dtype=torch.float64))
    layer_weights = torch.nn.Parameter(torch.randn(L, generator=g, dtype=torch.float64)) if case["weighted"] else None
    B, N = 2, 900
    raw = (0.3 * torch.randn(B, N, generator=g)).float()
    x = raw.double()
    x = (x - x.mean(-1, keepdim=True)) / torch.sqrt(x.var(-1, unbiased=False, keepdim=True) + 1e-7)
    states = hidden_states(model, x)
    if layer_weights is not None:
        w = torch.softmax(layer_weights, dim=-1)
        h = (torch.stack(states, dim=1) * w.view(-1, 1, 1)).sum(dim=1)
    else:
        h = states[-1]
    logits = classifier(projector(h).mean(dim=1))
    target = torch.tensor(case["targets"])
    loss = F.cross_entropy(logits, target)
    loss.backward()
    named = {hf_key(k): p for k, p in model.named_parameters()}
    named.update({f"projector.{k}": p for k, p in projector.named_parameters()})
    named.update({f"classifier.{k}": p for k, p in classifier.named_parameters()})
    if layer_weights is not None:
        named["layer_weights"] = layer_weights
    head = {f"projector.{k}": v.detach().flatten().tolist() for k, v in projector.state_dict().items()}
    head.update({f"classifier.{k}": v.detach().flatten().tolist() for k, v in classifier.state_dict().items()})
    if layer_weights is not None:
        head["layer_weights"] = layer_weights.detach().tolist()
    grads = {k: sample(named[k].grad, i, 48) for i, k in enumerate(GRADS) if k in named}
    return dict(
        name=case["name"], folder=case["folder"], classifier_proj_size=P, use_weighted_layer_sum=case["weighted"], num_labels=C,
        head=head, audio=raw.flatten().tolist(), shape=[B, N], targets=case["targets"], logits=logits.detach().flatten().tolist(),
        loss=float(loss), grads=grads,
    )


def main() -> None:
    torch.set_num_threads(1)
    for case in CASES:
        g = run(case)
        path = os.path.join(GOLDEN, f"{case['name']}.json")
        with open(path, "w") as f:
            json.dump(g, f)
            f.write("\n")
        print(f"{path}: logits {g['logits']} loss {g['loss']:.6f}")


if __name__ == "__main__":
    main()
