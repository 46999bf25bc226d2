"""Writes test/fixtures/safetensors/mixed.safetensors and mixed.json (expected values).

Run by hand with Debian's Python (torch 1.13): /usr/bin/python3 scripts/gen_safetensors_fixture.py

The tensors cover every dtype the reader converts from PyTorch checkpoints (float32, float16,
bfloat16, int64), a 0-d scalar and an empty tensor. `rounding.*` holds float32 values picked to sit
exactly halfway between (and one float32 step either side of) neighbouring float16/bfloat16
values, with PyTorch's own `.half()` / `.bfloat16()` results, so the TypeScript conversion can be
checked bit for bit against PyTorch's rounding.
"""
import json
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_io import _raw_bytes, load_file, save_file  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures", "safetensors")
rng = np.random.default_rng(20240611)


def f32_from_bits(bits):
    return np.asarray(bits, dtype=np.uint32).view(np.float32)


def rounding_source():
    # float16: midpoints between random neighbouring finite halves (normal and subnormal), +-1 float32 ulp
    h = rng.integers(0, 0x7BFF, size=48, dtype=np.uint16)  # below the largest finite half
    h = np.concatenate([h, np.array([0, 1, 2, 0x3FF, 0x400, 0x7BFE], dtype=np.uint16)])
    lo = h.view(np.float16).astype(np.float32)
    hi = (h + 1).view(np.float16).astype(np.float32)
    mid = (lo + hi) / 2  # exact: float32 has 13 more mantissa bits
    mid = np.concatenate([mid, -mid])
    mids = [mid, np.nextafter(mid, np.float32(np.inf)), np.nextafter(mid, np.float32(-np.inf))]
    # bfloat16: the float32 exactly halfway has the low 16 bits 0x8000
    b = rng.integers(0, 0x7F7F, size=48, dtype=np.uint32)
    b = np.concatenate([b, b | 0x8000])  # both signs
    bmid = (b << 16) | 0x8000
    bmids = [f32_from_bits(bmid), f32_from_bits(bmid + 1), f32_from_bits(bmid - 1)]
    special = np.array(
        [
            65504.0, 65519.0, 65520.0, 65536.0, 1e6, -1e6,  # float16 overflow boundary
            2.0 ** -24, 2.0 ** -25, 2.0 ** -25 * 1.5, 2.0 ** -26, 1e-10, -1e-10,  # float16 underflow
            3.3895314e38, 3.4028234e38, 1e-40, -1e-45,  # bfloat16 overflow, float32 subnormals
            0.0, -0.0, math.inf, -math.inf, 0.1, -0.3, 1 / 3,
        ],
        dtype=np.float32,
    )
    return torch.from_numpy(np.concatenate(mids + bmids + [special]).astype(np.float32))


def main():
    source = rounding_source()
    tensors = {
        "f32.weight": torch.tensor([[1.5, -2.25, 3.4028234663852886e38], [1e-45, -0.0, 0.1]], dtype=torch.float32),
        "f16.values": torch.tensor(
            [0.1, -2.5, 65504.0, 6.103515625e-05, 5.960464477539063e-08, -0.0, math.inf, math.nan], dtype=torch.float32
        ).half(),
        "bf16.values": torch.tensor([[1.0, -3.14159], [1e-40, -math.inf]], dtype=torch.float32).bfloat16(),
        "i64.ids": torch.tensor([0, -1, 2**40, 2**53, -(2**31), 7], dtype=torch.int64).reshape(2, 3),
        "scalar": torch.tensor(3.5, dtype=torch.float32),
        "empty": torch.zeros(0, 4, dtype=torch.float32),
        "rounding.source": source,
        "rounding.f16": source.half(),
        "rounding.bf16": source.bfloat16(),
    }
    metadata = {"format": "pt", "generator": "scripts/gen_safetensors_fixture.py"}
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, "mixed.safetensors")
    save_file(tensors, path, metadata)

    # Re-read with our reader and check it matches bit for bit before writing the expectations.
    back = load_file(path)
    for k, t in tensors.items():
        assert back[k].dtype == t.dtype and back[k].shape == t.shape, k
        assert _raw_bytes(back[k]) == _raw_bytes(t), k

    def encode(x):
        if isinstance(x, float) and (math.isnan(x) or math.isinf(x)):
            return "NaN" if math.isnan(x) else ("Infinity" if x > 0 else "-Infinity")
        return x

    expected = {
        "metadata": metadata,
        "tensors": {
            k: {
                "dtype": {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int64: "I64"}[t.dtype],
                "shape": list(t.shape),
                # floats widened exactly to float64; int64 values here are all exact in a double
                "values": [encode(v) for v in (t.reshape(-1).tolist() if t.dtype == torch.int64 else t.double().reshape(-1).tolist())],
            }
            for k, t in tensors.items()
        },
    }
    with open(os.path.join(OUT, "mixed.json"), "w") as f:
        json.dump(expected, f, separators=(",", ":"), allow_nan=False)
        f.write("\n")
    print(f"wrote {path} ({os.path.getsize(path)} bytes) and mixed.json")


if __name__ == "__main__":
    main()
