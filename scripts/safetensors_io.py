"""Minimal safetensors reader and writer for the golden-file generators (numpy + torch only).

save_file({name: tensor}, path, metadata=None) and load_file(path) -> {name: tensor}, with the
format of https://github.com/huggingface/safetensors: an 8-byte little-endian header length, a JSON
header padded with spaces to a multiple of 8 bytes, then the tensors back to back in the order given.
"""
import json
import struct

import numpy as np
import torch

# safetensors dtype -> (torch dtype, numpy dtype of the raw little-endian bytes)
DTYPES = {
    "F64": (torch.float64, "<f8"),
    "F32": (torch.float32, "<f4"),
    "F16": (torch.float16, "<f2"),
    "BF16": (torch.bfloat16, "<i2"),  # numpy has no bfloat16 (and torch 1.13 no uint16): move the raw bits
    "I64": (torch.int64, "<i8"),
    "I32": (torch.int32, "<i4"),
    "U8": (torch.uint8, "u1"),
    "BOOL": (torch.bool, "?"),
}
TORCH_TO_ST = {t: name for name, (t, _) in DTYPES.items()}


def _raw_bytes(t):
    t = t.detach().cpu().contiguous()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().astype("<i2").tobytes()
    return t.numpy().astype(DTYPES[TORCH_TO_ST[t.dtype]][1]).tobytes()


def save_file(tensors, path, metadata=None):
    """Write a dict of torch tensors as a safetensors file, laid out in dict order."""
    header = {}
    if metadata is not None:
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise ValueError("safetensors metadata must map strings to strings")
        header["__metadata__"] = dict(metadata)
    blobs = []
    offset = 0
    for name, t in tensors.items():
        if name == "__metadata__":
            raise ValueError('a tensor cannot be named "__metadata__"')
        if t.dtype not in TORCH_TO_ST:
            raise ValueError(f"tensor {name!r} has dtype {t.dtype}; supported: {sorted(map(str, TORCH_TO_ST))}")
        raw = _raw_bytes(t)
        header[name] = {"dtype": TORCH_TO_ST[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in blobs:
            f.write(raw)


def read_header(path):
    """(header dict without __metadata__, metadata dict, byte offset of the data section)."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n).decode("utf-8"))
    metadata = header.pop("__metadata__", {})
    return header, metadata, 8 + n


def load_file(path):
    """Read a safetensors file into a dict of torch tensors (in data-section order)."""
    header, _, start = read_header(path)
    out = {}
    with open(path, "rb") as f:
        for name, info in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
            begin, end = info["data_offsets"]
            dtype, np_dtype = DTYPES[info["dtype"]]
            f.seek(start + begin)
            raw = f.read(end - begin)
            if len(raw) != end - begin:
                raise ValueError(f"{path}: tensor {name!r} runs past the end of the file (truncated?)")
            arr = np.frombuffer(raw, dtype=np_dtype).copy()
            t = torch.from_numpy(arr)
            if info["dtype"] == "BF16":
                t = t.view(torch.bfloat16)
            out[name] = t.reshape(info["shape"])
    return out


def load_metadata(path):
    return read_header(path)[1]
