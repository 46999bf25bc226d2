"""Resampling goldens for src/data/audio-resample.test.ts (run by hand; CI only reads the output).

    /usr/bin/python3 scripts/gen_audio_goldens.py     # Debian python3-torchaudio 0.13 and sox 14.4

Writes test/golden/audio/resample.safetensors and resample.json:
- `ta/<case>/x`, `ta/<case>/y`, `ta/<case>/y64`: white noise (full band, the hardest case for a
  resampler) and torchaudio.functional.resample's output with the case's options, computed in
  float32 (y) and in float64 (y64, stored as float32);
- `sox/<case>/x`, `sox/<case>/y`: a sum of tones below 0.8 x the lower Nyquist frequency and
  sox's `rate -v -L` (very high quality, linear phase) output, float32 in and out, no dither.
Deterministic: the inputs come from a seeded generator, so reruns are byte-identical.
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torchaudio
import torchaudio.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from safetensors_io import save_file  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "test", "golden", "audio")

# (name, orig, new, options)
TA_CASES = [
    ("44100-16000", 44100, 16000, {}),
    ("22050-16000", 22050, 16000, {}),
    ("48000-16000", 48000, 16000, {}),
    ("8000-16000", 8000, 16000, {}),
    ("16000-14400", 16000, 14400, {}),  # speed perturbation 1.1 (rates as torchaudio's speed: 16000/1.1 ~ 14545 -> gcd form 160:144)
    ("44100-16000-kaiser", 44100, 16000, {"resampling_method": "kaiser_window", "lowpass_filter_width": 16, "rolloff": 0.85, "beta": 8.555}),
    ("11025-16000-w16", 11025, 16000, {"lowpass_filter_width": 16, "rolloff": 0.95}),
]
SOX_CASES = [("44100-16000", 44100, 16000), ("22050-16000", 22050, 16000), ("48000-16000", 48000, 16000), ("8000-16000", 8000, 16000)]


def sox_resample(x, orig, new):
    with tempfile.TemporaryDirectory() as d:
        i, o = os.path.join(d, "in.f32"), os.path.join(d, "out.f32")
        x.astype("<f4").tofile(i)
        subprocess.run(["sox", "-D", "-t", "f32", "-r", str(orig), "-c", "1", i, "-t", "f32", o, "rate", "-v", "-L", str(new)], check=True)
        return np.fromfile(o, dtype="<f4")


def main():
    os.makedirs(OUT, exist_ok=True)
    tensors, meta = {}, {"torchaudio": torchaudio.__version__, "sox_version": subprocess.run(["sox", "--version"], capture_output=True, text=True).stdout.strip(), "ta": [], "sox": []}
    g = torch.Generator().manual_seed(0)
    for name, orig, new, opts in TA_CASES:
        x = (torch.rand(orig // 10, generator=g) * 2 - 1).float()  # 0.1 s
        y = F.resample(x[None], orig, new, **opts)[0]
        # float64 too: torchaudio builds the kernel in the waveform's dtype, and float32 kernels
        # are off by up to ~4e-5 for rates with large reduced forms (441:320)
        y64 = F.resample(x[None].double(), orig, new, **opts)[0].float()
        tensors[f"ta/{name}/x"], tensors[f"ta/{name}/y"], tensors[f"ta/{name}/y64"] = x, y, y64
        meta["ta"].append({"name": name, "orig": orig, "new": new, "options": opts})
    rng = np.random.default_rng(0)
    for name, orig, new in SOX_CASES:
        t = np.arange(orig // 5) / orig  # 0.2 s
        top = 0.8 * min(orig, new) / 2
        freqs = rng.uniform(50, top, 8)
        x = sum(0.1 * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi)) for f in freqs).astype(np.float32)
        y = sox_resample(x, orig, new)
        tensors[f"sox/{name}/x"], tensors[f"sox/{name}/y"] = torch.from_numpy(x), torch.from_numpy(y.copy())
        meta["sox"].append({"name": name, "orig": orig, "new": new, "freqs": [round(float(f), 3) for f in freqs]})
    save_file(tensors, os.path.join(OUT, "resample.safetensors"))
    with open(os.path.join(OUT, "resample.json"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")
    print("wrote", len(tensors), "tensors")


if __name__ == "__main__":
    main()
