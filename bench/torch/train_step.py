"""PyTorch reference for bench/train_step.ts: the same 6-conv net, one SGD training step.

Single-threaded (torch.set_num_threads(1)) because tfjs-wasm runs on one thread. Prints one
JSON line {"torch": "<version>", "ms": [per-step times]} so the TS script can parse it.
"""
import json
import sys
import time

import torch
import torch.nn.functional as F

torch.set_num_threads(1)
torch.manual_seed(0)

BATCH = int(sys.argv[1]) if len(sys.argv) > 1 else 32
STEPS = int(sys.argv[2]) if len(sys.argv) > 2 else 10
SIZE = 112
# (in, out, stride) per 3x3 conv, padding 1, each followed by ReLU; mirrors bench/train_step.ts.
LAYERS = [(3, 32, 2), (32, 32, 1), (32, 64, 2), (64, 64, 1), (64, 128, 2), (128, 128, 1)]
EMB = 512


def he(shape, fan_in):
    return (torch.randn(*shape) * (2.0 / fan_in) ** 0.5).requires_grad_()


convs = [(he((co, ci, 3, 3), ci * 9), s) for ci, co, s in LAYERS]
fc = he((EMB, LAYERS[-1][1]), LAYERS[-1][1])
params = [w for w, _ in convs] + [fc]
x = torch.randn(BATCH, 3, SIZE, SIZE)
target = torch.randn(BATCH, EMB)
opt = torch.optim.SGD(params, lr=1e-3)


def step():
    h = x
    for w, s in convs:
        h = F.relu(F.conv2d(h, w, stride=s, padding=1))
    out = h.mean(dim=(2, 3)) @ fc.t()
    loss = ((out - target) ** 2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss.item()


for _ in range(3):
    step()
times = []
for _ in range(STEPS):
    t0 = time.perf_counter()
    step()
    times.append((time.perf_counter() - t0) * 1000.0)
print(json.dumps({"torch": torch.__version__, "ms": times}))
