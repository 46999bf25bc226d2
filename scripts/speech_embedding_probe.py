"""Probe of the frozen speech embedding on the demo corpus (diagnostic, run by hand; not a dependency).

    npx tsx scripts/speech-embedding-dump.ts --out /tmp/sb/dump
    /usr/bin/python3 scripts/speech_embedding_probe.py /tmp/sb/dump [SUBSETS] [VARIANT:POOL ...]

A logistic-regression head (standardised features from the training subset, full-batch L-BFGS to
convergence, weight decay from a grid) on 1, 3 and 10 clips per word of the training voices, tested
on the 4 held-out voices, 10 random subsets each. Prints test accuracy per feature variant, pooling,
weight decay and budget: the ceiling a well-fit head on these features reaches.
"""
import json, sys
import numpy as np
import torch

d = sys.argv[1]
meta = json.load(open(f"{d}/meta.json"))
clips = meta["clips"]
labels = meta["labels"]
y = np.array([labels.index(c["word"]) for c in clips])
test = np.array([c["test"] for c in clips])
seeds = int(sys.argv[2]) if len(sys.argv) > 2 else 10


def fit(x, t, wd):
    mu, sd = x.mean(0), x.std(0) + 1e-3
    xs = torch.tensor((x - mu) / sd, dtype=torch.float64)
    tt = torch.tensor(t)
    lin = torch.nn.Linear(x.shape[1], len(labels)).double()
    opt = torch.optim.LBFGS(lin.parameters(), max_iter=500, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(lin(xs), tt) + wd * (lin.weight ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return lambda z: lin(torch.tensor((z - mu) / sd, dtype=torch.float64)).argmax(1).numpy()


def run(name, pool, budgets=(1, 3, 10), wds=(1e-4, 1e-3, 1e-2, 1e-1)):
    v = next(v for v in meta["variants"] if v["name"] == name)
    V, W = v["views"], v["windows"]
    e = np.fromfile(f"{d}/{name}.f32", dtype=np.float32).reshape(len(clips), V, W, 96)
    f = pool(e)  # (clips, views, F)
    plain = f[:, 0]
    rng = np.random.default_rng(0)
    tr_idx = np.where(~test)[0]
    for wd in wds:
        row = []
        for b in budgets:
            accs = []
            for s in range(seeds):
                pick = np.concatenate([rng.choice(tr_idx[y[tr_idx] == c], b, replace=False) for c in range(len(labels))])
                x = f[pick].reshape(-1, f.shape[-1])
                t = np.repeat(y[pick], V)
                pred = fit(x, t, wd)
                accs.append((pred(plain[test]) == y[test]).mean())
            row.append(f"{np.mean(accs):.3f}±{np.std(accs):.3f}")
        print(f"{name:16s} {pool.__name__:8s} wd {wd:g}: " + "  ".join(f"{b}/word {r}" for b, r in zip(budgets, row)), flush=True)


def mean(e): return e.mean(2)
def max_(e): return e.max(2)
def meanmax(e): return np.concatenate([e.mean(2), e.max(2)], -1)
def flat(e): return e.reshape(e.shape[0], e.shape[1], -1)

pools = {"mean": mean, "max": max_, "meanmax": meanmax, "flat": flat}
# VARIANT:POOL pairs (default: every variant of the dump, mean-pooled)
for spec in sys.argv[3:] or [v["name"] + ":mean" for v in meta["variants"]]:
    name, pool = spec.split(":")
    run(name, pools[pool])
