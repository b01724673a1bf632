"""PyTorch side of bench/train_speed.ts: one ArcFace training step (backbone forward + backward,
ArcFace head s=64 m=0.5 over C classes, SGD momentum 0.9 wd 5e-4) of the same backbone definition
the parity tests use (tools/reference/backbones_reference.py), or of the dlib ResNet defined below
(src/backbones/dlib_resnet.ts: 150x150 input, 128-d embedding).

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



class DlibConv(torch.nn.Module):
    """face-api's convLayer: conv with bias, then a per-channel scale and shift, then ReLU (optional)."""

    def __init__(self, cin, cout, k, stride, pad, relu=True):
        super().__init__()
        self.conv = torch.nn.Conv2d(cin, cout, k, stride, pad)
        self.scale = torch.nn.Parameter(torch.ones(1, cout, 1, 1))
        self.shift = torch.nn.Parameter(torch.zeros(1, cout, 1, 1))
        self.relu = relu

    def forward(self, x):
        y = self.conv(x) * self.scale + self.shift
        return F.relu(y) if self.relu else y


class DlibBlock(torch.nn.Module):
    """residual (3x3 'same' twice, identity) or residualDown (3x3/2 'valid', 2x2/2 average-pooled
    shortcut zero-padded to the new width, conv path zero-padded bottom/right when one pixel short)."""

    def __init__(self, cin, cout, down):
        super().__init__()
        self.down = down
        self.cout = cout
        self.conv1 = DlibConv(cin, cout, 3, 2 if down else 1, 0 if down else 1)
        self.conv2 = DlibConv(cout, cout, 3, 1, 1, relu=False)

    def forward(self, x):
        y = self.conv2(self.conv1(x))
        if not self.down:
            return F.relu(y + x)
        short = F.avg_pool2d(x, 2, 2)
        if short.shape[1] != self.cout:
            short = F.pad(short, (0, 0, 0, 0, 0, self.cout - short.shape[1]))
        gap = short.shape[2] - y.shape[2]
        if gap > 0:
            y = F.pad(y, (0, gap, 0, gap))
        return F.relu(y + short)


class DlibResNet(torch.nn.Module):
    BLOCKS = [(32, False)] * 3 + [(64, True)] + [(64, False)] * 3 + [(128, True)] + [(128, False)] * 2 \
        + [(256, True)] + [(256, False)] * 2 + [(256, True)]

    def __init__(self):
        super().__init__()
        self.stem = DlibConv(3, 32, 7, 2, 0)
        blocks, cin = [], 32
        for cout, down in self.BLOCKS:
            blocks.append(DlibBlock(cin, cout, down))
            cin = cout
        self.blocks = torch.nn.Sequential(*blocks)
        self.fc = torch.nn.Linear(256, 128, bias=False)

    def forward(self, x):
        x = F.max_pool2d(self.stem(x), 3, 2)
        return self.fc(self.blocks(x).mean((2, 3)))


model_name, batch, steps, classes, threads = sys.argv[1], *map(int, sys.argv[2:6])
torch.set_num_threads(threads)
torch.manual_seed(0)
dlib = model_name == 'dlib-resnet'
net = (DlibResNet() if dlib else MODELS[model_name]()).train()
dim, size = (128, 150) if dlib else (512, 112)
weight = torch.nn.Parameter(torch.randn(classes, dim) * 0.01)
params = [p for p in net.parameters() if p.requires_grad] + [weight]
opt = torch.optim.SGD(params, lr=0.01, momentum=0.9, weight_decay=5e-4)
x = torch.randn(batch, 3, size, size)
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
