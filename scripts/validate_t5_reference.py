"""Checks scripts/t5_reference.py against independent implementations:

- T5Attention with a relative position bias and a padding mask against torch.nn.MultiheadAttention
  (bias=False; T5's q/k/v copied into in_proj with the query weights multiplied by sqrt(d_kv) to undo
  MultiheadAttention's 1/sqrt(head_dim) scaling; position bias + mask given as its float attn_mask of
  shape (B * heads, T, S));
- the relative position buckets against Mesh TensorFlow's definition (transformer/attention.py
  `_relative_position_bucket`, written here in plain Python floats, n = -relative_position) for
  t5-small's 32 buckets / 128 and the fixtures' 8 / 16, bidirectional and causal;
- T5LayerNorm against x / sqrt(mean(x^2) + eps) * w.

    /usr/bin/python3 scripts/validate_t5_reference.py    # exits 1 if a check fails
"""

import math
import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import t5_reference as ref  # noqa: E402
from seq2seq_reference_common import Checks  # noqa: E402

torch.manual_seed(0)
checks = Checks()
check = checks.ok


# attention
d, nh = 16, 4
cfg = ref.t5_config(d_model=d, d_kv=d // nh, num_heads=nh, relative_attention_num_buckets=8, relative_attention_max_distance=16)
att = ref.T5Attention(cfg, False, True).double()
with torch.no_grad():
    for p in att.parameters():
        p.normal_(0, 0.5)
B, T = 2, 7
x = torch.randn(B, T, d, dtype=torch.float64)
mask = torch.tensor([[1] * T, [1] * 4 + [0] * 3])
add = ref.additive_mask(mask, torch.float64)
y, bias = att(x, mask=add)
mha = nn.MultiheadAttention(d, nh, bias=False, batch_first=True).double()
with torch.no_grad():
    mha.in_proj_weight.copy_(torch.cat([att.q.weight * math.sqrt(d // nh), att.k.weight, att.v.weight]))
    mha.out_proj.weight.copy_(att.o.weight)
y2, _ = mha(x, x, x, attn_mask=bias.expand(B, nh, T, T).reshape(B * nh, T, T), need_weights=False)
diff = float((y - y2).abs().max())
check("attention with relative bias vs nn.MultiheadAttention", diff < 1e-12, f"max abs diff {diff:.3g}")


# buckets
def mtf_bucket(relative_position, bidirectional, num_buckets, max_distance):
    ret = 0
    n = -relative_position
    if bidirectional:
        num_buckets //= 2
        ret += int(n < 0) * num_buckets
        n = abs(n)
    else:
        n = max(n, 0)
    max_exact = num_buckets // 2
    if n < max_exact:
        return ret + n
    large = max_exact + int(math.log(n / max_exact) / math.log(max_distance / max_exact) * (num_buckets - max_exact))
    return ret + min(large, num_buckets - 1)


for nb, md in ((32, 128), (8, 16)):
    rel = torch.arange(-600, 601)
    for bi in (True, False):
        got = ref.relative_position_bucket(rel, bi, nb, md).tolist()
        want = [mtf_bucket(r, bi, nb, md) for r in rel.tolist()]
        bad = [r for r, a, b in zip(rel.tolist(), got, want) if a != b]
        check(f"buckets {nb}/{md} {'bidirectional' if bi else 'causal'} vs Mesh TensorFlow", not bad, f"mismatches at {bad[:5]}")

# RMS norm
ln = ref.T5LayerNorm(d, 1e-6).double()
with torch.no_grad():
    ln.weight.normal_()
want = x / torch.sqrt((x * x).mean(-1, keepdim=True) + 1e-6) * ln.weight
check("T5LayerNorm vs closed form", float((ln(x) - want).abs().max()) < 1e-12)

checks.exit()
