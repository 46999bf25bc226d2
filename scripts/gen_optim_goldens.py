"""Golden parameter trajectories of torch.optim SGD/Adam/AdamW and LR schedules for finetune's tests.

A 2-layer MLP (4 -> 5 -> 3, tanh) with fixed weights trains for 4 steps on a fixed batch with
cross-entropy; we record the loss at each step and the parameters after the last step, for several
optimizer settings, plus gradient clipping and accumulation. Run by hand with Debian's python3:
    /usr/bin/python3 scripts/gen_optim_goldens.py  ->  test/golden/optim.json
"""
import json
import torch
import torch.nn.functional as F

torch.manual_seed(0)
W1 = torch.randn(5, 4) * 0.5
B1 = torch.randn(5) * 0.1
W2 = torch.randn(3, 5) * 0.5
B2 = torch.randn(3) * 0.1
X = torch.randn(6, 4)
Y = torch.tensor([0, 2, 1, 1, 0, 2])

CASES = {
    'sgd': dict(kind='sgd', lr=0.1),
    'sgd-momentum-wd': dict(kind='sgd', lr=0.1, momentum=0.9, weightDecay=0.01),
    'sgd-nesterov': dict(kind='sgd', lr=0.05, momentum=0.8, nesterov=True),
    'sgd-dampening': dict(kind='sgd', lr=0.05, momentum=0.8, dampening=0.3),
    'adam': dict(kind='adam', lr=0.01),
    'adam-wd': dict(kind='adam', lr=0.01, weightDecay=0.1, betas=[0.8, 0.99], eps=1e-6),
    'adamw': dict(kind='adamw', lr=0.01, weightDecay=0.1),
    'adamw-clip': dict(kind='adamw', lr=0.01, weightDecay=0.1, clipNorm=0.5),
}


def run(c, accumulation=1):
    params = [t.clone().requires_grad_() for t in (W1, B1, W2, B2)]
    w1, b1, w2, b2 = params
    decay = [w1, w2]
    no_decay = [b1, b2]
    wd = c.get('weightDecay', 0.01 if c['kind'] == 'adamw' else 0.0)
    groups = [{'params': decay, 'weight_decay': wd}, {'params': no_decay, 'weight_decay': 0.0}]
    if c['kind'] == 'sgd':
        opt = torch.optim.SGD(groups, lr=c['lr'], momentum=c.get('momentum', 0), dampening=c.get('dampening', 0), nesterov=c.get('nesterov', False))
    elif c['kind'] == 'adam':
        opt = torch.optim.Adam(groups, lr=c['lr'], betas=tuple(c.get('betas', (0.9, 0.999))), eps=c.get('eps', 1e-8))
    else:
        opt = torch.optim.AdamW(groups, lr=c['lr'], betas=tuple(c.get('betas', (0.9, 0.999))), eps=c.get('eps', 1e-8))
    losses, norms = [], []
    for step in range(4):
        opt.zero_grad()
        micro = X.shape[0] // accumulation
        total = 0.0
        for k in range(accumulation):
            xs, ys = X[k * micro:(k + 1) * micro], Y[k * micro:(k + 1) * micro]
            loss = F.cross_entropy(torch.tanh(xs @ w1.T + b1) @ w2.T + b2, ys) / accumulation
            loss.backward()
            total += float(loss)
        losses.append(total)
        if 'clipNorm' in c:
            norms.append(float(torch.nn.utils.clip_grad_norm_(params, c['clipNorm'])))
        opt.step()
    return {'losses': losses, 'gradNorms': norms, 'params': {n: p.detach().flatten().tolist() for n, p in zip(['w1', 'b1', 'w2', 'b2'], params)}}


out = {'init': {n: t.flatten().tolist() for n, t in zip(['w1', 'b1', 'w2', 'b2'], (W1, B1, W2, B2))},
       'x': X.flatten().tolist(), 'y': Y.tolist(), 'cases': {}}
for name, c in CASES.items():
    out['cases'][name] = {'config': c, **run(c)}
out['cases']['adamw-accum2'] = {'config': dict(kind='adamw', lr=0.01, weightDecay=0.1, accumulation=2), **run(dict(kind='adamw', lr=0.01, weightDecay=0.1), accumulation=2)}

# schedules, as HF's get_*_schedule_with_warmup and torch's OneCycleLR (factor of the base lr)
from torch.optim.lr_scheduler import LambdaLR, OneCycleLR
import math
def hf_linear(w, total):
    return lambda s: s / max(1, w) if s < w else max(0.0, (total - s) / max(1, total - w))
def hf_cosine(w, total):
    return lambda s: s / max(1, w) if s < w else max(0.0, 0.5 * (1 + math.cos(math.pi * (s - w) / max(1, total - w))))
sched = {}
for name, fn in [('linear', hf_linear(3, 10)), ('cosine', hf_cosine(3, 10))]:
    p = torch.zeros(1, requires_grad=True)
    o = torch.optim.SGD([p], lr=1.0)
    s = LambdaLR(o, fn)
    vals = []
    for _ in range(10):
        vals.append(o.param_groups[0]['lr']); o.step(); s.step()
    sched[name] = {'warmup': 3, 'total': 10, 'factors': vals}
p = torch.zeros(1, requires_grad=True)
o = torch.optim.SGD([p], lr=1.0, momentum=0.9)
s = OneCycleLR(o, max_lr=1.0, total_steps=20, cycle_momentum=False)
vals = []
for _ in range(20):
    vals.append(o.param_groups[0]['lr']); o.step(); s.step()
sched['one-cycle'] = {'total': 20, 'factors': vals}
out['schedules'] = sched
json.dump(out, open('test/golden/optim.json', 'w'), indent=0)
print('wrote test/golden/optim.json')
