#!/usr/bin/env python3
"""Reference numbers for src/eval (verification, ROC, calibration, identification).

Written independently of the TS code, following the definitions of InsightFace's
recognition/arcface_torch/eval/verification.py (calculate_roc / calculate_accuracy /
calculate_val / calculate_val_far): sklearn's KFold for the folds, brute-force threshold
sweeps with np.less on a (pairs x thresholds) matrix, scipy's interp1d(kind='slinear') for the
TAR@FAR threshold, sklearn's roc_curve / roc_auc_score for the ROC, brentq for the EER.
Scores are cosines; InsightFace's distance is d = 2 - 2 cos.

Regenerate (Debian's python3-numpy, python3-sklearn, python3-scipy):
    /usr/bin/python3 tools/reference/eval_reference.py > test/fixtures/eval.json
"""
import json
import sys

import numpy as np
from scipy import interpolate
from scipy.interpolate import BSpline
from scipy.optimize import brentq
from sklearn.metrics import roc_auc_score, roc_curve
from sklearn.model_selection import KFold

RNG = np.random.default_rng(20190601)
FARS = [1e-1, 1e-2, 1e-3, 1e-4]



def key_of(f):
    # '1e-01' -> '1e-1' (JS toExponential style)
    m, e = ('%e' % f).split('e')
    m = m.rstrip('0').rstrip('.')
    return '%se%d' % (m, int(e))


# ---------------------------------------------------------------- synthetic score sets


def blocks(n, k, p_same):
    """Labels in LFW-like order: each of k folds holds its genuine pairs first, then impostors."""
    sizes = [n // k + (1 if f < n % k else 0) for f in range(k)]
    out = []
    for s in sizes:
        g = int(round(s * p_same))
        out += [True] * g + [False] * (s - g)
    return np.array(out)


def draw(same, mu_g, sd_g, mu_i, sd_i, decimals=4):
    s = np.where(same, RNG.normal(mu_g, sd_g, same.size), RNG.normal(mu_i, sd_i, same.size))
    return np.round(np.clip(s, -1, 1), decimals)


def score_sets():
    sets = []
    same = blocks(600, 10, 0.5)
    sets.append(('gauss600', draw(same, 0.55, 0.15, 0.05, 0.12), same, 10))
    same = RNG.random(487) < 0.4
    s = np.round(draw(same, 0.4, 0.2, 0.1, 0.2) / 0.005) * 0.005  # ties, some exactly on the 0.01 d-grid
    sets.append(('ties487', np.round(s, 4), same, 10))
    same = np.arange(200) % 2 == 0
    s = np.where(same, RNG.uniform(0.5, 0.9, 200), RNG.uniform(-0.2, 0.3, 200))
    sets.append(('perfect200', np.round(s, 4), same, 10))
    same = blocks(1003, 10, 0.5)
    sets.append(('overlap1003', draw(same, 0.3, 0.2, 0.25, 0.2), same, 10))
    same = RNG.random(250) < 0.5
    s = np.round(draw(same, 0.35, 0.25, 0.1, 0.25) / 0.05) * 0.05  # heavy ties
    sets.append(('coarse250', np.round(s, 4), same, 7))
    same = np.array([True, False] * 6 + [True])
    sets.append(('tiny13', draw(same, 0.5, 0.2, 0.2, 0.2), same, 1))
    same = blocks(6000, 10, 0.5)
    sets.append(('lfwlike6000', draw(same, 0.62, 0.12, 0.08, 0.1), same, 10))
    return sets


# ---------------------------------------------------------------- InsightFace protocol


def splits(n, k):
    if k == 1:
        idx = np.arange(n)
        return [(idx, idx)]
    return list(KFold(n_splits=k, shuffle=False).split(np.arange(n)))


def accuracy(threshold, dist, same):
    pred = np.less(dist, threshold)
    tp = np.sum(pred & same)
    tn = np.sum(~pred & ~same)
    return float(tp + tn) / dist.size


def val_far(threshold, dist, same):
    pred = np.less(dist, threshold)
    return float(np.sum(pred & same)) / float(np.sum(same)), float(np.sum(pred & ~same)) / float(np.sum(~same))


def interp1d_slinear(x, y):
    """interp1d(x, y, kind='slinear') as scipy <= 1.8 built it, which InsightFace was written against.

    far_train always repeats values (runs of 0 and 1), and scipy >= 1.9 refuses repeated x here
    (insightface issue #2152, scipy #21550). Old scipy sorted x (stable mergesort) and returned
    make_interp_spline's k = 1 special case before any duplicate check: a degree-1 BSpline with
    knots [x0, x..., xlast] and coefficients y. BSpline itself still accepts repeated knots.
    """
    ind = np.argsort(x, kind='mergesort')
    x, y = x[ind], y[ind]
    spline = BSpline(np.r_[x[0], x, x[-1]], y, 1)

    def f(v):
        assert x[0] <= v <= x[-1]  # interp1d's bounds_error
        return spline(v)

    return f


def protocol(dist, same, k, acc_grid, val_grid, no_accept, to_cos):
    folds = splits(dist.size, k)
    accs, ths = [], []
    for train, test in folds:
        # (pairs x thresholds) matrix: one brute-force accuracy per threshold
        pred = dist[train][:, None] < acc_grid[None, :]
        st = same[train][:, None]
        acc_train = (np.sum(pred & st, 0) + np.sum(~pred & ~st, 0)) / train.size
        best = acc_grid[np.argmax(acc_train)]
        accs.append(accuracy(best, dist[test], same[test]))
        ths.append(to_cos(best))
    tar = {}
    for far_target in FARS:
        vals, fars = [], []
        for train, test in folds:
            pred = dist[train][:, None] < val_grid[None, :]
            far_train = np.sum(pred & ~same[train][:, None], 0) / float(np.sum(~same[train]))
            if np.max(far_train) >= far_target:
                threshold = interp1d_slinear(far_train, val_grid)(far_target)
            else:
                threshold = no_accept
            v, f = val_far(threshold, dist[test], same[test])
            vals.append(v)
            fars.append(f)
        tar[key_of(far_target)] = {'tar': float(np.mean(vals)), 'std': float(np.std(vals)), 'far': float(np.mean(fars))}
    pred = dist[:, None] < acc_grid[None, :]
    acc_all = (np.sum(pred & same[:, None], 0) + np.sum(~pred & ~same[:, None], 0)) / dist.size
    b = np.argmax(acc_all)
    return {
        'accuracy': float(np.mean(accs)),
        'std': float(np.std(accs)),
        'foldAccuracies': accs,
        'foldThresholds': [float(t) for t in ths],
        'bestThreshold': float(to_cos(acc_grid[b])),
        'bestAccuracy': float(acc_all[b]),
        'tarAtFar': tar,
    }


def insightface(scores, same, k):
    dist = 2 - 2 * scores
    return protocol(dist, same, k, np.arange(0, 4, 0.01), np.arange(0, 4, 0.001), 0.0, lambda t: 1 - t / 2)


def exact(scores, same, k):
    key = -scores
    u = np.unique(key)
    grid = np.concatenate([[u[0] - 1], (u[:-1] + u[1:]) / 2, [u[-1] + 1]])
    return protocol(key, same, k, grid, grid, -np.inf, lambda t: -t)


def roc_stats(scores, same):
    fpr, tpr, thr = roc_curve(same, scores, drop_intermediate=False)
    interp = interpolate.interp1d(fpr, tpr)
    eer = brentq(lambda x: 1.0 - x - interp(x), 0.0, 1.0, xtol=1e-14)
    at = {}
    for f in FARS + [0.05, 0.3]:
        ok = fpr <= f
        j = np.flatnonzero(ok)[np.argmax(tpr[ok])]
        at[key_of(f)] = {'tar': float(tpr[j]), 'far': float(fpr[j]), 'threshold': float(thr[j]) if j > 0 else None}
    return {
        'far': fpr.tolist(),
        'tar': tpr.tolist(),
        'thresholds': thr[1:].tolist(),  # thr[0] is sklearn's max + 1 (ours: +Infinity)
        'auc': float(roc_auc_score(same, scores)),
        'eer': float(eer),
        'tarAtFar': at,
    }


def calibration(scores, same):
    """Brute force over every distinct score t with the rule score >= t."""
    ts = np.unique(scores)[::-1]  # strictest first
    pred = scores[:, None] >= ts[None, :]
    tp = np.sum(pred & same[:, None], 0)
    fp = np.sum(pred & ~same[:, None], 0)
    P, N = np.sum(same), np.sum(~same)
    acc = (tp + N - fp) / scores.size
    out = {}
    for f in [0.1, 0.01]:
        ok = np.flatnonzero(fp / N <= f)
        j = ok[-1]  # most permissive that meets the FAR
        out[key_of(f)] = {'threshold': float(ts[j]), 'far': float(fp[j] / N), 'tar': float(tp[j] / P), 'accuracy': float(acc[j])}
    j = int(np.argmax(acc))
    out['accuracy'] = {'threshold': float(ts[j]), 'far': float(fp[j] / N), 'tar': float(tp[j] / P), 'accuracy': float(acc[j])}
    return out


# ---------------------------------------------------------------- identification


def unit(x):
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def identification():
    d = 16
    n_ids = 25
    centres = unit(RNG.normal(size=(n_ids, d)))
    gallery, probes = [], []
    for i in range(n_ids):
        for _ in range(1 + i % 3):
            gallery.append(('id%02d' % i, unit(centres[i] + 0.7 * RNG.normal(size=d) / np.sqrt(d))))
        for _ in range(3):
            probes.append(('id%02d' % i, unit(centres[i] + 0.9 * RNG.normal(size=d) / np.sqrt(d))))
    outsiders = unit(RNG.normal(size=(20, d)))
    for j in range(60):
        probes.append(('x%02d' % (j % 20), unit(outsiders[j % 20] + 0.9 * RNG.normal(size=d) / np.sqrt(d))))
    ids = sorted({g[0] for g in gallery})
    G = np.array([g[1] for g in gallery], dtype=np.float64)  # float32 values, float64 math
    owner = np.array([ids.index(g[0]) for g in gallery])
    P = np.array([p[1] for p in probes], dtype=np.float64)
    S = P @ G.T
    per_id = np.full((len(probes), len(ids)), -np.inf)
    for j in range(G.shape[0]):
        per_id[:, owner[j]] = np.maximum(per_id[:, owner[j]], S[:, j])
    ranks, true_rank1, tops = [], [], []
    for i, (pid, _) in enumerate(probes):
        if pid in ids:
            t = ids.index(pid)
            s = per_id[i, t]
            rank = 1 + int(np.sum(np.delete(per_id[i], t) >= s))
            ranks.append(rank)
            true_rank1.append(s if rank == 1 else -np.inf)
        else:
            tops.append(per_id[i].max())
    ranks = np.array(ranks)
    cmc = [float(np.mean(ranks <= r)) for r in range(1, len(ids) + 1)]
    tops = np.sort(np.array(tops))[::-1]
    n = tops.size
    dir_at = {}
    for f in [0.1, 0.05, 0.01]:
        k = int(np.floor(f * n + 1e-9))
        # smallest distractor score s with #(tops >= s) <= k, else just above the top one
        cands = [s for s in np.unique(tops) if np.sum(tops >= s) <= k]
        thr = min(cands) if cands else np.nextafter(tops[0], np.inf)
        fpir = float(np.sum(tops >= thr)) / n
        dir_ = float(np.mean(np.array(true_rank1) >= thr))
        dir_at[key_of(f)] = {'dir': dir_, 'fpir': fpir, 'threshold': float(thr)}
    return {
        'gallery': [{'identity': g[0], 'embedding': g[1].tolist()} for g in gallery],
        'probes': [{'identity': p[0], 'embedding': p[1].tolist()} for p in probes],
        'cmc': cmc,
        'mated': int(ranks.size),
        'distractors': int(n),
        'dirAtFpir': dir_at,
    }


def main():
    cases = []
    for name, scores, same, k in score_sets():
        case = {
            'name': name,
            'folds': k,
            'scores': scores.tolist(),
            'same': [bool(x) for x in same],
            'insightface': insightface(scores, same, k),
            'exact': exact(scores, same, k),
            'calibration': calibration(scores, same),
        }
        r = roc_stats(scores, same)
        if scores.size > 1100:  # keep the fixture small: summary only
            r = {key: v for key, v in r.items() if key not in ('far', 'tar', 'thresholds')}
        case['roc'] = r
        cases.append(case)
    out = {
        'grid_len': {'acc': len(np.arange(0, 4, 0.01)), 'val': len(np.arange(0, 4, 0.001))},
        'verification': cases,
        'identification': identification(),
    }
    json.dump(out, sys.stdout, separators=(',', ':'))
    sys.stdout.write('\n')


if __name__ == '__main__':
    main()
