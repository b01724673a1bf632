#!/usr/bin/env python3
"""PyTorch CPU (1 thread, float32) timing of the ArcFace head forward+backward, the same
computation as bench/head.ts: normalise x and W, cos = x W^T clamped, paper-exact ArcFace
target with InsightFace's fallback, s = 64, mean cross-entropy, gradients w.r.t. x and W.
Prints one JSON line: {"torch": version, "times_ms": [...]}.
Usage: python3 bench/torch/head.py N D C RUNS
"""
import json
import math
import sys
import time

import torch
import torch.nn.functional as F


def main():
    n, d, c, runs = (int(v) for v in sys.argv[1:5])
    torch.set_num_threads(1)
    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.randn(c, d) * 0.01)
    x = torch.randn(n, d, requires_grad=True)
    y = torch.randint(0, c, (n,))
    m, s = 0.5, 64.0
    cos_m, sin_m, th, mm = math.cos(m), math.sin(m), math.cos(math.pi - m), math.sin(math.pi - m) * m
    rows = torch.arange(n)

    def step():
        w.grad = None
        x.grad = None
        cos = F.linear(F.normalize(x), F.normalize(w)).clamp(-1, 1)
        t = cos[rows, y]
        sin = torch.sqrt((1 - t) * (1 + t)).clamp_min(1e-6)
        f = torch.where(t > th, t * cos_m - sin * sin_m, t - mm)
        logits = cos.clone()
        logits[rows, y] = f
        loss = F.cross_entropy(logits * s, y)
        loss.backward()
        return loss.item()

    step()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        step()
        times.append((time.perf_counter() - t0) * 1000)
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "times_ms": times}))


if __name__ == "__main__":
    main()
