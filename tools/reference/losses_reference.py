#!/usr/bin/env python3
"""Float64 reference values and gradients for src/losses, written independently of the TS code.

Formulas follow the ArcFace paper (section 2) and InsightFace (arcface_torch losses.py, MXNet
train.py): target logits are written through theta = acos(cos) (the TS code uses cos*cos m -
sin*sin m for ArcFace), logits are replaced by index_put (the TS code adds a one-hot delta),
gradients come from torch autograd in float64. Every input is rounded to float32 first, so the
float32 TS side sees exactly the numbers the reference used.

Regenerate (Debian's python3-torch 1.13):
    /usr/bin/python3 tools/reference/losses_reference.py > test/fixtures/losses.json
"""
import json
import math
import sys

import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
GEN = torch.Generator().manual_seed(20180123)
PI = math.pi


def f32(t):
    """Round to float32 values, kept in float64."""
    return t.to(torch.float32).to(torch.float64)


def randn(*shape):
    return torch.randn(*shape, generator=GEN)


def rand(*shape):
    return torch.rand(*shape, generator=GEN)


def lst(t):
    return t.detach().tolist()


# ---- target logits f(cos), unscaled --------------------------------------------------------

def psi(phi):
    """SphereFace's monotone cos: (-1)^k cos(phi) - 2k on [k pi, (k+1) pi]."""
    k = torch.floor(phi.detach() / PI)
    return (1 - 2 * torch.remainder(k, 2)) * torch.cos(phi) - 2 * k


def sphere_lambda(spec):
    if spec is None:
        return 0.0
    if isinstance(spec, (int, float)):
        return float(spec)
    s = {"base": 1000.0, "gamma": 0.12, "power": 1.0, "lambdaMin": 5.0, "iteration": 0, **spec}
    return max(s["lambdaMin"], s["base"] * (1 + s["gamma"] * s["iteration"]) ** (-s["power"]))


def target_fn(spec):
    name, o = spec["name"], spec.get("opts", {})
    if name in ("softmax", "norm-softmax"):
        return lambda c: c
    if name == "cosface":
        return lambda c: c - o.get("m3", 0.35)
    if name == "arcface":
        m = o.get("m", 0.5)
        if o.get("straightThrough"):
            # arcface_torch today: cos(acos(c) + m) computed under no_grad -> identity gradient.
            return lambda c: c + (torch.cos(torch.acos(c) + m) - c).detach()
        if o.get("easyMargin"):
            return lambda c: torch.where(c > 0, torch.cos(torch.acos(c) + m), c)
        th, mm = math.cos(PI - m), math.sin(PI - m) * m
        return lambda c: torch.where(c > th, torch.cos(torch.acos(c) + m), c - mm)
    if name == "sphereface":
        m1, lam = o.get("m1", 1.35), sphere_lambda(o.get("lambda"))
        return lambda c: (lam * c + psi(m1 * torch.acos(c))) / (1 + lam)
    if name in ("cm1", "cm2", "combined"):
        d = {"cm1": (1.0, 0.3, 0.2), "cm2": (0.9, 0.4, 0.15)}.get(name, (None, None, None))
        m1, m2, m3 = o.get("m1", d[0]), o.get("m2", d[1]), o.get("m3", d[2])
        return lambda c: psi(m1 * torch.acos(c) + m2) - m3
    raise ValueError(name)


def scale_of(spec):
    return spec.get("opts", {}).get("s", 1.0 if spec["name"] == "softmax" else 64.0)


def margin_logits(cos, labels, spec):
    f = target_fn(spec)
    rows = torch.arange(cos.shape[0])
    out = cos.clone()
    out[rows, labels] = f(cos[rows, labels])
    return out * scale_of(spec)


def normalize(x):
    return x / x.norm(dim=1, keepdim=True).clamp_min(1e-12)


# ---- cases -------------------------------------------------------------------------------

LOSSES = [
    {"name": "norm-softmax", "opts": {"s": 8}},
    {"name": "sphereface", "opts": {"m1": 1.35, "s": 8}},
    {"name": "sphereface", "opts": {"m1": 4, "s": 8, "lambda": {"base": 1000, "gamma": 0.12, "power": 1, "lambdaMin": 5, "iteration": 50}}},
    {"name": "sphereface", "opts": {"m1": 4, "s": 8, "lambda": 5}},
    {"name": "cosface", "opts": {"m3": 0.35, "s": 8}},
    {"name": "arcface", "opts": {"m": 0.5, "s": 8}},
    {"name": "arcface", "opts": {"m": 0.5, "s": 64}},
    {"name": "arcface", "opts": {"m": 0.5, "s": 8, "easyMargin": True}},
    {"name": "arcface", "opts": {"m": 0.5, "s": 8, "straightThrough": True}},
    {"name": "cm1", "opts": {"s": 8}},
    {"name": "cm2", "opts": {"s": 8}},
]

# Target angles: near 0, ordinary, theta + m > pi for m = 0.5, near pi.
EDGE_THETAS = [1e-3, 0.02, 0.3, 0.9, 1.4, 2.0, 2.5, PI - 0.6, PI - 0.45, PI - 0.2, PI - 0.02, PI - 1e-3]


def cos_matrix(n, c):
    """Target column at the edge angles, others uniform in [-0.7, 0.7]; float32 values, |cos| < 1."""
    labels = torch.randint(0, c, (n,), generator=GEN)
    cos = (rand(n, c) * 1.4 - 0.7)
    for i in range(n):
        cos[i, labels[i]] = math.cos(EDGE_THETAS[i % len(EDGE_THETAS)])
    cos = f32(cos)
    assert cos.abs().max() < 1
    return cos, labels


def margin_cases():
    out = []
    cos0, labels = cos_matrix(len(EDGE_THETAS), 5)
    for spec in LOSSES:
        cos = cos0.clone().requires_grad_(True)
        logits = margin_logits(cos, labels, spec)
        loss = F.cross_entropy(logits, labels)
        (g,) = torch.autograd.grad(loss, cos)
        out.append({"loss": spec, "cos": lst(cos), "labels": lst(labels), "logits": lst(logits),
                    "value": loss.item(), "grad_cos": lst(g)})
    return out


def curve_cases():
    thetas = torch.linspace(1e-3, PI - 1e-3, 61)
    c0 = f32(torch.cos(thetas))
    out = []
    for spec in [{"name": "softmax"}] + LOSSES:
        c = c0.clone().requires_grad_(True)
        t = target_fn(spec)(c)
        (g,) = torch.autograd.grad(t.sum(), c)
        out.append({"loss": spec, "cos": lst(c), "target": lst(t), "dtarget": lst(g)})
    return out


def head_inputs(n, d, c, rows_per_class=1):
    """Raw embeddings with some rows placed near 0, near pi and past pi - m from their centre."""
    w = randn(c * rows_per_class, d)
    labels = torch.randint(0, c, (n,), generator=GEN)
    x = randn(n, d) * 3
    placed = {0: 0.02, 1: PI - 0.02, 2: PI - 0.3, 3: 1.0}
    for i, theta in placed.items():
        wy = normalize(w[labels[i] * rows_per_class:labels[i] * rows_per_class + 1])[0]
        u = randn(d)
        u = u - (u @ wy) * wy
        u = u / u.norm()
        x[i] = 2.5 * (math.cos(theta) * wy + math.sin(theta) * u)
    return f32(x), f32(w), labels


def head_cases():
    out = []
    n, d, c = 8, 16, 10
    x0, w0, labels = head_inputs(n, d, c)
    for spec in LOSSES:
        x = x0.clone().requires_grad_(True)
        w = w0.clone().requires_grad_(True)
        cos = (normalize(x) @ normalize(w).T).clamp(-1, 1)
        loss = F.cross_entropy(margin_logits(cos, labels, spec), labels)
        gx, gw = torch.autograd.grad(loss, (x, w))
        out.append({"kind": "margin", "loss": spec, "x": lst(x), "w": lst(w), "labels": lst(labels),
                    "value": loss.item(), "grad_x": lst(gx), "grad_w": lst(gw)})
    # Sub-center ArcFace, K = 3: class j owns rows j*K .. j*K + K-1.
    k = 3
    xs, ws, ls = head_inputs(n, d, c, rows_per_class=k)
    spec = {"name": "arcface", "opts": {"m": 0.5, "s": 8}}
    x = xs.clone().requires_grad_(True)
    w = ws.clone().requires_grad_(True)
    sub = (normalize(x) @ normalize(w).T).clamp(-1, 1).view(n, c, k)
    cos = sub.max(dim=2).values
    loss = F.cross_entropy(margin_logits(cos, ls, spec), ls)
    gx, gw = torch.autograd.grad(loss, (x, w))
    nearest = sub[torch.arange(n), ls].argmax(dim=1)
    out.append({"kind": "subcenter", "k": k, "loss": spec, "x": lst(x), "w": lst(w), "labels": lst(ls),
                "value": loss.item(), "grad_x": lst(gx), "grad_w": lst(gw), "nearest": lst(nearest)})
    # Plain softmax: FC with bias on raw embeddings.
    x = x0.clone().requires_grad_(True)
    w = (w0 * 0.1).clone().requires_grad_(True)
    b = f32(randn(c) * 0.1).requires_grad_(True)
    loss = F.cross_entropy(x @ w.T + b, labels)
    gx, gw, gb = torch.autograd.grad(loss, (x, w, b))
    out.append({"kind": "softmax", "x": lst(x), "w": lst(w), "b": lst(b), "labels": lst(labels),
                "value": loss.item(), "grad_x": lst(gx), "grad_w": lst(gw), "grad_b": lst(gb)})
    return out


def acos_pairs(a, b):
    return torch.acos((a * b).sum(dim=1))


def mine(angles, labels, mining):
    """Triplet mining as documented in src/losses/triplet.ts, written out as loops."""
    n = len(labels)
    trip = []
    for i in range(n):
        pos = [j for j in range(n) if j != i and labels[j] == labels[i]]
        neg = [j for j in range(n) if labels[j] != labels[i]]
        if not pos or not neg:
            continue
        if mining == "batch-hard":
            p = max(pos, key=lambda j: (angles[i][j], -j))
            q = min(neg, key=lambda j: (angles[i][j], j))
            trip.append((i, p, q))
            continue
        for p in pos:
            farther = [j for j in neg if angles[i][j] > angles[i][p]]
            if farther:
                q = min(farther, key=lambda j: (angles[i][j], j))
            else:
                q = max(neg, key=lambda j: (angles[i][j], -j))
            trip.append((i, p, q))
    return trip


def metric_cases():
    out = []
    # Intra (Eq. 5) on cos with the edge angles.
    cos0, labels = cos_matrix(len(EDGE_THETAS), 5)
    cos = cos0.clone().requires_grad_(True)
    rows = torch.arange(cos.shape[0])
    v = torch.acos(cos[rows, labels]).mean() / PI
    (g,) = torch.autograd.grad(v, cos)
    out.append({"kind": "intra", "cos": lst(cos), "labels": lst(labels), "value": v.item(), "grad_cos": lst(g)})
    # Inter (Eq. 6) on raw centres.
    c, d, n = 7, 12, 9
    w = f32(randn(c, d)).requires_grad_(True)
    labels = torch.randint(0, c, (n,), generator=GEN)
    wn = normalize(w)
    gram = wn[labels] @ wn.T
    mask = torch.ones_like(gram, dtype=torch.bool)
    mask[torch.arange(n), labels] = False
    v = -torch.acos(gram[mask]).sum() / (PI * n * (c - 1))
    (g,) = torch.autograd.grad(v, w)
    out.append({"kind": "inter", "w": lst(w), "labels": lst(labels), "value": v.item(), "grad_w": lst(g)})
    # Triplet (Eq. 7), both minings, 4 identities x 3 samples, clustered so mining is non-trivial.
    n, d = 12, 10
    labels = torch.tensor([0, 1, 2, 3] * 3)
    centres = randn(4, d)
    x0 = f32(centres[labels] + 0.9 * randn(n, d))
    for mining in ("batch-hard", "semi-hard"):
        for margin in (0.35, 1.0):
            x = x0.clone().requires_grad_(True)
            xn = normalize(x)
            ang = torch.acos((xn @ xn.T).clamp(-1, 1)).tolist()
            trip = mine(ang, labels.tolist(), mining)
            a, p, q = (torch.tensor(t) for t in zip(*trip))
            v = F.relu(acos_pairs(xn[a], xn[p]) + margin - acos_pairs(xn[a], xn[q])).mean()
            (g,) = torch.autograd.grad(v, x)
            out.append({"kind": "triplet", "mining": mining, "margin": margin, "x": lst(x), "labels": lst(labels),
                        "value": v.item(), "grad_x": lst(g), "triplets": len(trip)})
    # Centre loss (Wen et al.) and one centre update.
    c, d, n, alpha = 5, 6, 10, 0.5
    x = f32(randn(n, d)).requires_grad_(True)
    centres = f32(randn(c, d))
    labels = torch.randint(0, c, (n,), generator=GEN)
    v = 0.5 * ((x - centres[labels]) ** 2).sum(dim=1).mean()
    (g,) = torch.autograd.grad(v, x)
    new = centres.clone()
    for j in range(c):
        idx = (labels == j).nonzero().flatten()
        delta = (centres[j] - x.detach()[idx]).sum(dim=0) / (1 + len(idx))
        new[j] = centres[j] - alpha * delta
    out.append({"kind": "center", "x": lst(x), "centers": lst(centres), "labels": lst(labels), "alpha": alpha,
                "value": v.item(), "grad_x": lst(g), "updated_centers": lst(new)})
    return out


def objective_cases():
    """ArcFace + Intra / Inter / Triplet (paper Table 2), weight 1 each."""
    out = []
    n, d, c = 12, 10, 4
    labels = torch.tensor([0, 1, 2, 3] * 3)
    w0 = f32(randn(c, d))
    x0 = f32(w0[labels] + 1.2 * randn(n, d))
    spec = {"name": "arcface", "opts": {"m": 0.5, "s": 8}}
    for term in ("intra", "inter", "triplet"):
        x = x0.clone().requires_grad_(True)
        w = w0.clone().requires_grad_(True)
        xn, wn = normalize(x), normalize(w)
        cos = (xn @ wn.T).clamp(-1, 1)
        loss = F.cross_entropy(margin_logits(cos, labels, spec), labels)
        rows = torch.arange(n)
        if term == "intra":
            loss = loss + torch.acos(cos[rows, labels]).mean() / PI
        elif term == "inter":
            gram = wn[labels] @ wn.T
            mask = torch.ones_like(gram, dtype=torch.bool)
            mask[rows, labels] = False
            loss = loss - torch.acos(gram[mask]).sum() / (PI * n * (c - 1))
        else:
            ang = torch.acos((xn @ xn.T).clamp(-1, 1)).tolist()
            a, p, q = (torch.tensor(t) for t in zip(*mine(ang, labels.tolist(), "batch-hard")))
            loss = loss + F.relu(acos_pairs(xn[a], xn[p]) + 0.35 - acos_pairs(xn[a], xn[q])).mean()
        gx, gw = torch.autograd.grad(loss, (x, w))
        out.append({"term": term, "loss": spec, "x": lst(x), "w": lst(w), "labels": lst(labels),
                    "value": loss.item(), "grad_x": lst(gx), "grad_w": lst(gw)})
    return out


def main():
    data = {
        "_about": (
            "Reference values for test/losses.fixtures.test.ts, float64 PyTorch " + torch.__version__ +
            " autograd, independent formulas (ArcFace paper section 2, InsightFace arcface_torch/MXNet). "
            "Inputs are float32-representable. Regenerate: "
            "/usr/bin/python3 tools/reference/losses_reference.py > test/fixtures/losses.json"
        ),
        "margin": margin_cases(),
        "curves": curve_cases(),
        "heads": head_cases(),
        "metric": metric_cases(),
        "objectives": objective_cases(),
    }
    json.dump(data, sys.stdout, separators=(",", ":"))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
