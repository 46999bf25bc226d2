"""Goldens for finetune's generation (greedy, beam search) on the tiny GPT-2 of the text goldens.

    /usr/bin/python3 scripts/gen_generation_goldens.py

Writes test/golden/generate/gpt2.json: for each case the prompt, the generation settings and the
sequences `generate` returns, computed by scripts/generation_reference.py (HF 4.38's search logic)
over scripts/text_reference.py's GPT2LMHeadModel in float64, re-running the whole prefix every step.
Each case is also run in float32; "float32_same" records that float32 picks the same tokens, and
"min_greedy_gap" the smallest gap between the best and second-best logit along greedy paths, so a
tolerance problem would show up here first.
"""

from __future__ import annotations

import json
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import generation_reference as gen  # noqa: E402
import text_reference as ref  # noqa: E402
from safetensors_io import load_file  # noqa: E402

ROOT = os.path.dirname(HERE)
CKPT = "test/fixtures/models/gpt2-tiny"
OUT = os.path.join(ROOT, "test", "golden", "generate", "gpt2.json")


def load(dtype):
    with open(os.path.join(ROOT, CKPT, "config.json")) as f:
        config = json.load(f)
    model = ref.build_model("gpt2", "causal-lm", config)
    ref.load_checkpoint(model, "gpt2", load_file(os.path.join(ROOT, CKPT, "model.safetensors")))
    return model.to(dtype).eval(), config


CASES = [
    {"name": "greedy", "prompt": [17, 45, 88], "max_new_tokens": 12},
    {"name": "greedy-eos", "prompt": [5, 63, 9, 31], "max_new_tokens": 16, "eos_token_id": None},
    {"name": "greedy-no-repeat-2", "prompt": [17, 45, 88], "max_new_tokens": 12, "no_repeat_ngram_size": 2},
    {"name": "beam4", "prompt": [17, 45, 88], "max_new_tokens": 10, "num_beams": 4},
    {"name": "beam4-eos", "prompt": [5, 63, 9, 31], "max_new_tokens": 14, "num_beams": 4, "eos_token_id": None},
    {"name": "beam3-lp2-early", "prompt": [5, 63, 9, 31], "max_new_tokens": 14, "num_beams": 3, "length_penalty": 2.0, "early_stopping": True, "eos_token_id": None},
    {"name": "beam4-never-lp0.5", "prompt": [29, 71, 54], "max_new_tokens": 12, "num_beams": 4, "length_penalty": 0.5, "early_stopping": "never", "eos_token_id": None},
    {"name": "beam3-no-repeat-3", "prompt": [29, 71, 54, 12], "max_new_tokens": 12, "num_beams": 3, "no_repeat_ngram_size": 3},
]


def run(model, case, eos):
    def next_logits(ids):
        with torch.no_grad():
            return model(ids)["logits"][:, -1, :]

    kw = {
        "max_length": len(case["prompt"]) + case["max_new_tokens"],
        "eos_token_id": eos,
        "pad_token_id": 0,
        "no_repeat_ngram_size": case.get("no_repeat_ngram_size", 0),
    }
    if case.get("num_beams", 1) > 1:
        return gen.beam_search(next_logits, [case["prompt"]], num_beams=case["num_beams"],
                               length_penalty=case.get("length_penalty", 1.0),
                               early_stopping=case.get("early_stopping", False), **kw)[0]
    return gen.greedy(next_logits, [case["prompt"]], **kw)[0]


def greedy_gap(model, seq, prompt_len):
    with torch.no_grad():
        logits = model(torch.tensor([seq]))["logits"][0]
    gaps = []
    for t in range(prompt_len - 1, len(seq) - 1):
        top = torch.topk(logits[t], 2)[0]
        gaps.append(float(top[0] - top[1]))
    return min(gaps)


def main():
    m64, config = load(torch.float64)
    m32, _ = load(torch.float32)
    cases = []
    for case in CASES:
        case = dict(case)
        eos = config["eos_token_id"]
        if "eos_token_id" in case:
            # an eos the model actually produces: the 5th token of the plain greedy continuation,
            # so the eos paths (finished rows, hypotheses closed by eos) are exercised
            plain = run(m64, {**case, "num_beams": 1, "no_repeat_ngram_size": 0}, None)
            eos = plain[len(case["prompt"]) + 4]
            case["eos_token_id"] = eos
        else:
            case["eos_token_id"] = eos
        seq = run(m64, case, eos)
        seq32 = run(m32, case, eos)
        case["sequence"] = seq
        case["float32_same"] = seq == seq32
        case["min_greedy_gap"] = float(f"{greedy_gap(m64, seq, len(case['prompt'])):.4g}")
        cases.append(case)
        print(case["name"], seq, "float32 same" if seq == seq32 else "FLOAT32 DIFFERS")
    golden = {
        "description": "HF generate (4.38 search logic, scripts/generation_reference.py) on the tiny GPT-2, float64, no cache",
        "checkpoint": CKPT,
        "pad_token_id": 0,
        "cases": cases,
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(golden, f, indent=1)
        f.write("\n")
    print("wrote", os.path.relpath(OUT, ROOT))


if __name__ == "__main__":
    main()
