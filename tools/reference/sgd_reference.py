#!/usr/bin/env python3
"""torch.optim.SGD (momentum 0.9, weight decay 5e-4) with torch.nn.utils.clip_grad_norm_ (max 5)
and a learning rate changed between steps, on fixed parameters and gradients: the reference for
src/train/sgd.ts and src/train/clip.ts. Everything is float32, as in training.

Regenerate (Debian's python3-torch 1.13):
    /usr/bin/python3 tools/reference/sgd_reference.py > test/fixtures/sgd.json
"""
import json
import sys

import torch

GEN = torch.Generator().manual_seed(5)
SHAPES = {"conv.w": [3, 3, 2, 4], "conv.b": [4], "fc.w": [6, 5]}
LRS = [0.1, 0.1, 0.05, 0.2, 0.01]
# Gradient scales: some steps are clipped (norm > 5), some are not.
GRAD_SCALES = [3.0, 0.2, 1.0, 0.05, 2.0]
MAX_NORM = 5.0


def lst(t):
    return t.detach().reshape(-1).tolist()


params = {k: torch.randn(*s, generator=GEN, dtype=torch.float32) for k, s in SHAPES.items()}
init = {k: lst(v) for k, v in params.items()}
tensors = [torch.nn.Parameter(v.clone()) for v in params.values()]
opt = torch.optim.SGD(tensors, lr=LRS[0], momentum=0.9, weight_decay=5e-4)

steps = []
for lr, scale in zip(LRS, GRAD_SCALES):
    grads = [torch.randn(*t.shape, generator=GEN, dtype=torch.float32) * scale for t in tensors]
    for t, g in zip(tensors, grads):
        t.grad = g.clone()
    norm = torch.nn.utils.clip_grad_norm_(tensors, MAX_NORM)
    for group in opt.param_groups:
        group["lr"] = lr
    opt.step()
    steps.append(
        {
            "lr": lr,
            "grads": {k: lst(g) for k, g in zip(SHAPES, grads)},
            "norm": float(norm),
            "clipped": {k: lst(t.grad) for k, t in zip(SHAPES, tensors)},
            "params": {k: lst(t) for k, t in zip(SHAPES, tensors)},
            "buffers": {k: lst(opt.state[t]["momentum_buffer"]) for k, t in zip(SHAPES, tensors)},
        }
    )

json.dump(
    {
        "torch": torch.__version__,
        "momentum": 0.9,
        "weightDecay": 5e-4,
        "maxNorm": MAX_NORM,
        "shapes": SHAPES,
        "init": init,
        "steps": steps,
    },
    sys.stdout,
)
