#!/usr/bin/env python3
"""PyTorch reference for src/backbones: parameter counts and embeddings of the arcface_torch backbones.

The modules are written here from InsightFace's definitions (recognition/arcface_torch/backbones/
iresnet.py and mobilefacenet.py), with their module names, so that state_dict keys match ours.
Every parameter and buffer (num_batches_tracked excepted) is filled, in state_dict order, from one
mulberry32 stream (src/util/random.ts rng) by the rule of `fill_value`; the input [4, 3, 112, 112]
comes from rng(seed + 1). The test refills our variables the same way, so the fixture only holds
the seed, the counts and outputs.

Regenerate (Debian's python3-torch 1.13, about a minute):
    /usr/bin/python3 tools/reference/backbones_reference.py > test/fixtures/backbones.json
"""
import json
import math

import numpy as np
import torch
from torch import nn

SEED = 4
M32 = 0xFFFFFFFF


class Mulberry32:
    """src/util/random.ts rng(seed), vectorised: the k-th state is seed + k * 0x6D2B79F5."""

    def __init__(self, seed):
        self.seed = seed
        self.k = 0

    def take(self, n):
        k = np.arange(self.k + 1, self.k + n + 1, dtype=np.uint64)
        self.k += n
        t = (np.uint64(self.seed) + k * np.uint64(0x6D2B79F5)) & np.uint64(M32)
        t = ((t ^ (t >> np.uint64(15))) * (t | np.uint64(1))) & np.uint64(M32)
        t = t ^ ((t + ((t ^ (t >> np.uint64(7))) * (t | np.uint64(61)))) & np.uint64(M32))
        return (t ^ (t >> np.uint64(14))).astype(np.float64) / 4294967296.0


def fill_value(name, kind, shape, u):
    """Test values by kind, chosen to keep activations O(1) through 50 layers in eval mode."""
    if kind in ('conv', 'linear') and name.endswith('.weight'):
        fan_in = int(np.prod(shape)) // shape[0]
        return (u - 0.5) * 2 * math.sqrt(3 / fan_in)
    if kind == 'prelu':
        return 0.25 + (u - 0.5) * 0.1
    if kind == 'bn' and name.endswith('.weight'):
        return 0.75 + 0.5 * u
    if name.endswith('.running_var'):
        return 0.5 + u
    return (u - 0.5) * 0.1  # biases, running means


def fill(model, seed):
    kinds = {}
    for mname, m in model.named_modules():
        kind = ('conv' if isinstance(m, nn.Conv2d) else 'linear' if isinstance(m, nn.Linear) else
                'prelu' if isinstance(m, nn.PReLU) else
                'bn' if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) else None)
        if kind:
            kinds[mname] = kind
    stream = Mulberry32(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if name.endswith('num_batches_tracked'):
                continue
            kind = kinds[name.rsplit('.', 1)[0]]
            u = stream.take(t.numel())
            t.copy_(torch.from_numpy(fill_value(name, kind, list(t.shape), u).astype(np.float32)).view(t.shape))


# --- IResNet (arcface_torch iresnet.py) ---

class IBasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin, eps=1e-5)
        self.conv1 = nn.Conv2d(cin, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout, eps=1e-5)
        self.prelu = nn.PReLU(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, stride, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout, eps=1e-5)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                            nn.BatchNorm2d(cout, eps=1e-5))

    def forward(self, x):
        y = self.bn3(self.conv2(self.prelu(self.bn2(self.conv1(self.bn1(x))))))
        return y + (self.downsample(x) if self.downsample is not None else x)


class IResNet(nn.Module):
    def __init__(self, depths, num_features=512, dropout=0.0):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64, eps=1e-5)
        self.prelu = nn.PReLU(64)
        cin = 64
        for i, (width, depth) in enumerate(zip((64, 128, 256, 512), depths)):
            blocks = []
            for j in range(depth):
                blocks.append(IBasicBlock(cin, width, 2 if j == 0 else 1))
                cin = width
            setattr(self, f'layer{i + 1}', nn.Sequential(*blocks))
        self.bn2 = nn.BatchNorm2d(512, eps=1e-5)
        self.dropout = nn.Dropout(p=dropout)
        self.fc = nn.Linear(512 * 7 * 7, num_features)
        self.features = nn.BatchNorm1d(num_features, eps=1e-5)
        nn.init.constant_(self.features.weight, 1.0)
        self.features.weight.requires_grad = False

    def forward(self, x):
        x = self.prelu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = self.dropout(torch.flatten(self.bn2(x), 1))
        return self.features(self.fc(x))


# --- MobileFaceNet (arcface_torch mobilefacenet.py) ---

def conv_block(cin, cout, k, s, p, g=1, act=True):
    mods = [nn.Conv2d(cin, cout, k, s, p, groups=g, bias=False), nn.BatchNorm2d(cout)]
    if act:
        mods.append(nn.PReLU(cout))
    blk = nn.Module()
    blk.layers = nn.Sequential(*mods)
    blk.forward = blk.layers.forward
    return blk


class DepthWise(nn.Module):
    def __init__(self, cin, cout, residual, stride, groups):
        super().__init__()
        self.residual = residual
        self.layers = nn.Sequential(conv_block(cin, groups, 1, 1, 0),
                                    conv_block(groups, groups, 3, stride, 1, groups),
                                    conv_block(groups, cout, 1, 1, 0, act=False))

    def forward(self, x):
        return x + self.layers(x) if self.residual else self.layers(x)


def residual(c, n, groups):
    r = nn.Module()
    r.layers = nn.Sequential(*[DepthWise(c, c, True, 1, groups) for _ in range(n)])
    r.forward = r.layers.forward
    return r


class MobileFaceNet(nn.Module):
    def __init__(self, num_features=512, blocks=(1, 4, 6, 2), scale=2):
        super().__init__()
        c64, c128 = 64 * scale, 128 * scale
        self.layers = nn.ModuleList([
            conv_block(3, c64, 3, 2, 1),
            conv_block(c64, c64, 3, 1, 1, 64) if blocks[0] == 1 else residual(c64, blocks[0], 128),
            DepthWise(c64, c64, False, 2, 128),
            residual(c64, blocks[1], 128),
            DepthWise(c64, c128, False, 2, 256),
            residual(c128, blocks[2], 256),
            DepthWise(c128, c128, False, 2, 512),
            residual(c128, blocks[3], 256),
        ])
        self.conv_sep = conv_block(c128, 512, 1, 1, 0)
        gdc = conv_block(512, 512, 7, 1, 0, 512, act=False)
        self.features = nn.Module()
        self.features.layers = nn.Sequential(gdc, nn.Flatten(), nn.Linear(512, num_features, bias=False),
                                             nn.BatchNorm1d(num_features))

    def forward(self, x):
        for f in self.layers:
            x = f(x)
        return self.features.layers(self.conv_sep(x))


MODELS = {
    'iresnet18': lambda: IResNet((2, 2, 2, 2)),
    'iresnet34': lambda: IResNet((3, 4, 6, 3)),
    'iresnet50': lambda: IResNet((3, 4, 14, 3)),
    'iresnet100': lambda: IResNet((3, 13, 30, 3)),
    'mobilefacenet': lambda: MobileFaceNet(),
}


def rounded(t):
    return [float('%.8g' % v) for v in t.detach().reshape(-1).tolist()]


def main():
    torch.manual_seed(0)
    # Eval runs the first 2 images, training all 4: with 2, the final BN1d divides by the distance
    # between two values, which float32 rounding perturbs by 1e-3 where the two are close.
    x4 = torch.from_numpy(((Mulberry32(SEED + 1).take(4 * 3 * 112 * 112) - 0.5) * 2).astype(np.float32))
    x4 = x4.view(4, 3, 112, 112)
    x = x4[:2]
    r = torch.from_numpy(((Mulberry32(SEED + 2).take(4 * 512) - 0.5) * 2).astype(np.float32)).view(4, 512)
    out = {'seed': SEED, 'counts': {}, 'eval': {}, 'train': {}}
    for name, make in MODELS.items():
        model = make()
        out['counts'][name] = sum(p.numel() for p in model.parameters() if p.requires_grad)
        if name in ('iresnet34', 'iresnet100'):
            continue
        fill(model, SEED)
        model.eval()
        with torch.no_grad():
            out['eval'][name] = rounded(model(x))
        if name not in ('iresnet18', 'mobilefacenet'):
            continue
        # One training-mode step (batch statistics, running-stat update, gradients of sum(y * r)) in
        # float64, and in float32 to measure how far float32 itself lands from it: backprop through
        # batch-statistics BN over few values is ill-conditioned (PyTorch float32 is 1e-3 off on
        # first-layer gradients), so the test allows 10x PyTorch's own float32 error there.
        if name == 'mobilefacenet':
            stats = ['layers.0.layers.1', 'features.layers.3']
            grads = ['layers.0.layers.0.weight', 'layers.0.layers.2.weight', 'layers.1.layers.0.weight',
                     'layers.2.layers.1.layers.0.weight', 'features.layers.3.bias']
        else:
            # Only layer4 and the head: with this seed one PReLU input of layer3.1 is 1.2e-6, a sign
            # that float32 rounding may flip (ours does, PyTorch's float32 does not), and the kink
            # moves every gradient upstream of it by about 1e-2.
            stats = ['bn1', 'features']
            grads = ['layer4.0.bn2.weight', 'layer4.0.downsample.1.weight', 'layer4.1.prelu.weight', 'bn2.weight',
                     'features.bias']
        runs = {}
        for dtype in (torch.float64, torch.float32):
            model = make()
            fill(model, SEED)
            model = model.to(dtype).train()
            y = model(x4.to(dtype))
            (y * r.to(dtype)).sum().backward()
            sd = model.state_dict()
            params = dict(model.named_parameters())
            runs[dtype] = {'output': y.detach()}
            runs[dtype].update({f'{s}.{k}': sd[f'{s}.{k}'] for s in stats for k in ('running_mean', 'running_var')})
            runs[dtype].update({g: params[g].grad for g in grads})
        exact, single = runs[torch.float64], runs[torch.float32]

        def f32_error(key):
            a, b = single[key].double(), exact[key]
            return float('%.3g' % float((a - b).abs().max() / b.abs().max()))

        out['train'][name] = {
            'output': rounded(exact['output']),
            'running': {k: rounded(exact[k]) for k in exact if 'running' in k},
            'grads': {g: rounded(exact[g]) for g in grads},
            'torchFloat32Error': {k: f32_error(k) for k in exact},
        }
    print(json.dumps(out))


if __name__ == '__main__':
    main()
