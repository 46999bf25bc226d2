"""PyTorch side of bench/gemm-floor.ts: the twelve GEMMs of the transformer-block training step.

usage: OPENBLAS_NUM_THREADS=2 python3 bench/gemm_floor.py THREADS   (prints {"median_ms": ...})
"""
import json, sys, time
import torch

torch.set_num_threads(int(sys.argv[1]))
torch.manual_seed(0)
# (A shape, B shape, transpose A, transpose B): forward, input-gradient and weight-gradient products
SHAPES = json.loads(sys.argv[2])
ops = [(torch.randn(*a), torch.randn(*b), ta, tb) for a, b, ta, tb in SHAPES]


def run():
    for a, b, ta, tb in ops:
        torch.mm(a.t() if ta else a, b.t() if tb else b)


for _ in range(5):
    run()
ts = []
for _ in range(30):
    t = time.perf_counter(); run(); ts.append(time.perf_counter() - t)
print(json.dumps({"median_ms": sorted(ts)[15] * 1000}))
