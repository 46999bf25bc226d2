"""Generate small test images and the tensors torchvision makes of them.

    /usr/bin/python3 scripts/gen_image_goldens.py

Writes (deterministic: a fixed numpy seed; PIL encoders are deterministic):
    test/fixtures/images/golden/*.{png,jpg,webp}   the source images (about 56x42 pixels)
    test/fixtures/images/goldens.json              decoded pixels and expected tensors

Decoded pixels are what torchvision's ImageFolder loader gives, `Image.open(p).convert("RGB")`,
except for EXIF-rotated files, where the expectation is `ImageOps.exif_transpose` first (finetune
applies EXIF orientation; torchvision does not). Alpha is dropped by convert("RGB"), not composited.

Transform cases run torchvision's PIL path, `Resize(...) + CenterCrop(...) + ToTensor() +
Normalize(...)`, on the PIL-decoded image, so they check the transforms apart from the decoder; a
resized-crop case checks `F.resized_crop` (the deterministic half of RandomResizedCrop), and jitter
cases check the tensor versions of `adjust_brightness/contrast/saturation/hue`.

Binary arrays are little-endian base64: uint8 HWC RGB for pixels, float32 CHW for tensors.
Use Debian's /usr/bin/python3 (torch 1.13, torchvision 0.14, Pillow 9.4).
"""

from __future__ import annotations

import base64
import json
import os

import numpy as np
import PIL
import torch
import torchvision
import torchvision.transforms as T
import torchvision.transforms.functional as F
from PIL import Image, ImageOps, features

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(ROOT, "test", "fixtures", "images")
IMG_DIR = os.path.join(OUT_DIR, "golden")
MAX_JSON_BYTES = 450_000

MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]
MODES = {"bilinear": T.InterpolationMode.BILINEAR, "bicubic": T.InterpolationMode.BICUBIC}


def b64(a: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<")).tobytes()).decode("ascii")


def source_rgb(w: int, h: int, rng: np.random.Generator) -> np.ndarray:
    """Smooth gradients, hard edges and noise, so resampling filters differ visibly."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 255 * x / (w - 1)
    g = 127.5 + 127.5 * np.sin(y / 3.0)
    b = np.where(((x // 7) + (y // 5)) % 2 == 0, 230.0, 25.0)
    img = np.stack([r, g, b], axis=-1) + rng.normal(0, 12, size=(h, w, 3))
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def write_images(rng: np.random.Generator) -> dict[str, dict]:
    """Saves the source images; returns name -> {file, mode, exact, expected PIL image}."""
    os.makedirs(IMG_DIR, exist_ok=True)
    rgb = Image.fromarray(source_rgb(56, 42, rng), "RGB")
    out: dict[str, dict] = {}

    def save(name: str, img: Image.Image, exact: bool, **kw) -> None:
        path = os.path.join(IMG_DIR, name)
        img.save(path, **kw)
        with Image.open(path) as f:
            mode = f.mode
            expected = ImageOps.exif_transpose(f) if name.startswith("exif") else f.copy()
        out[name] = {"file": f"golden/{name}", "mode": mode, "exact": exact, "image": expected.convert("RGB")}

    save("rgb.png", rgb, True)
    save("portrait.png", rgb.transpose(Image.Transpose.ROTATE_90), True)
    save("rgb.jpg", rgb, False, quality=90)
    save("gray.png", rgb.convert("L"), True)
    la = Image.merge("LA", [rgb.convert("L"), Image.fromarray(np.linspace(0, 255, 56 * 42).reshape(42, 56).astype(np.uint8), "L")])
    save("gray-alpha.png", la, True)
    alpha = Image.fromarray(((np.arange(56)[None, :] * 4 + np.arange(42)[:, None] * 3) % 256).astype(np.uint8), "L")
    rgba = rgb.copy()
    rgba.putalpha(alpha)
    save("rgba.png", rgba, True)
    save("palette.png", rgb.quantize(colors=16, method=Image.Quantize.MEDIANCUT), True)
    small = Image.fromarray(source_rgb(28, 28, rng)[:, :, 1], "L")  # an MNIST-sized grayscale image
    save("gray28.png", small, True)
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    save("exif-6.jpg", rgb, False, quality=95, exif=exif.tobytes())
    if features.check("webp"):
        save("rgb-lossless.webp", rgb, True, lossless=True)
        save("rgb.webp", rgb, False, quality=80)
    return out


def to_tensor_case(img: Image.Image, resize, crop, interpolation: str) -> torch.Tensor:
    steps = [T.Resize(resize, interpolation=MODES[interpolation])]
    if crop is not None:
        steps.append(T.CenterCrop(crop))
    steps += [T.ToTensor(), T.Normalize(MEAN, STD)]
    return T.Compose(steps)(img)


def main() -> None:
    rng = np.random.default_rng(20240601)
    images = write_images(rng)
    doc: dict = {
        "generator": "scripts/gen_image_goldens.py",
        "versions": {"torch": torch.__version__, "torchvision": torchvision.__version__, "pillow": PIL.__version__},
        "mean": MEAN,
        "std": STD,
        "images": {},
        "cases": [],
        "resized_crops": [],
        "jitter": [],
    }
    for name, info in images.items():
        px = np.asarray(info["image"], dtype=np.uint8)
        doc["images"][name] = {
            "file": info["file"],
            "mode": info["mode"],
            "exact": info["exact"],
            "width": px.shape[1],
            "height": px.shape[0],
            "pixels": b64(px),
        }

    def case(image: str, resize, crop, interpolation: str) -> None:
        t = to_tensor_case(images[image]["image"], resize, crop, interpolation)
        doc["cases"].append(
            {"image": image, "resize": resize, "crop": crop, "interpolation": interpolation, "shape": list(t.shape), "tensor": b64(t.numpy())}
        )

    for name in images:
        case(name, 28, 24, "bilinear")
    case("rgb.png", 28, 24, "bicubic")
    case("portrait.png", 30, [20, 26], "bicubic")
    case("rgb.png", [24, 30], None, "bilinear")  # ViT-style: exact size, no crop
    case("rgb.png", 42, 42, "bilinear")  # shorter side already 42: Resize returns the image as is
    case("rgb.png", 20, 24, "bilinear")  # crop larger than the resized image: zero padding
    case("gray28.png", 44, 40, "bilinear")  # upsampling
    case("gray28.png", 36, 32, "bicubic")

    for image, (top, left, h, w), size in [("rgb.png", (5, 7, 30, 20), 24), ("portrait.png", (0, 3, 41, 38), 16)]:
        cropped = F.resized_crop(images[image]["image"], top, left, h, w, [size, size], T.InterpolationMode.BILINEAR)
        t = F.to_tensor(cropped)
        doc["resized_crops"].append({"image": image, "top": top, "left": left, "height": h, "width": w, "size": size, "tensor": b64(t.numpy())})

    base = F.to_tensor(F.center_crop(images["rgb.png"]["image"], [24, 24]))
    doc["jitter_input"] = {"image": "rgb.png", "crop": 24}
    for op, factor in [("brightness", 1.3), ("brightness", 0.6), ("contrast", 0.7), ("contrast", 1.4), ("saturation", 0.2), ("saturation", 1.8), ("hue", 0.1), ("hue", -0.25)]:
        fn = getattr(F, f"adjust_{op}")
        doc["jitter"].append({"op": op, "factor": factor, "tensor": b64(fn(base, factor).numpy())})

    text = json.dumps(doc, indent=1)
    if len(text) > MAX_JSON_BYTES:
        raise SystemExit(f"goldens.json would be {len(text)} bytes (limit {MAX_JSON_BYTES}): use smaller images")
    with open(os.path.join(OUT_DIR, "goldens.json"), "w") as f:
        f.write(text + "\n")
    print(f"wrote {len(images)} images and {len(doc['cases'])} cases ({len(text)} bytes)")


if __name__ == "__main__":
    main()
