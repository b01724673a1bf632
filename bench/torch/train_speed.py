"""PyTorch side of bench/train_speed.ts: one ArcFace training step (backbone forward + backward,
ArcFace head s=64 m=0.5 over C classes, SGD momentum 0.9 wd 5e-4) of the same backbone definition
the parity tests use (tools/reference/backbones_reference.py).

argv: model batch steps classes threads. Prints one JSON line {"torch": version, "ms": [per step]}.
"""
import json
import math
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', '..', 'tools', 'reference'))
from backbones_reference import MODELS  # noqa: E402

model_name, batch, steps, classes, threads = sys.argv[1], *map(int, sys.argv[2:6])
torch.set_num_threads(threads)
torch.manual_seed(0)
net = MODELS[model_name]().train()
weight = torch.nn.Parameter(torch.randn(classes, 512) * 0.01)
params = [p for p in net.parameters() if p.requires_grad] + [weight]
opt = torch.optim.SGD(params, lr=0.01, momentum=0.9, weight_decay=5e-4)
x = torch.randn(batch, 3, 112, 112)
y = torch.randint(0, classes, (batch,))
s, m = 64.0, 0.5


def step():
    emb = net(x)
    cos = F.linear(F.normalize(emb), F.normalize(weight)).clamp(-1, 1)
    target = cos.gather(1, y[:, None])
    theta = torch.acos(target)
    logits = cos.scatter(1, y[:, None], torch.cos(theta + m)) * s
    loss = F.cross_entropy(logits, y)
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(list(net.parameters()), 5)
    opt.step()


step()  # warm-up
times = []
for _ in range(steps):
    t0 = time.perf_counter()
    step()
    times.append((time.perf_counter() - t0) * 1000)
print(json.dumps({'torch': torch.__version__, 'ms': times}))
