/**
 * Gradients of the tfjs losses (float32, wasm and cpu) against central finite differences of
 * an independent float64 forward written here in plain JS, on random inputs (no input near a
 * kink: the ArcFace fallback threshold, a relu hinge or a mining switch).
 */
import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import { initRuntime } from '../src/runtime/backend.js';
import { tf } from '../src/losses/tf.js';
import * as L from '../src/losses/index.js';
import { BACKENDS, assertClose, labelsOf, randn, read, rows, t2 } from './losses.helpers.test.js';

// ---- float64 forward -----------------------------------------------------------------------
type Target = (c: number) => number;
const psi = (phi: number): number => {
  const k = Math.floor(phi / Math.PI);
  return (k % 2 === 0 ? 1 : -1) * Math.cos(phi) - 2 * k;
};
const TARGETS: Record<string, { f: Target; make: () => L.MarginLoss }> = {
  'norm-softmax': { f: (c) => c, make: () => L.normSoftmax({ s: 8 }) },
  cosface: { f: (c) => c - 0.35, make: () => L.cosFace({ s: 8 }) },
  arcface: {
    f: (c) =>
      c > Math.cos(Math.PI - 0.5) ? Math.cos(Math.acos(c) + 0.5) : c - Math.sin(Math.PI - 0.5) * 0.5,
    make: () => L.arcFace({ s: 8 }),
  },
  'arcface easy': {
    f: (c) => (c > 0 ? Math.cos(Math.acos(c) + 0.5) : c),
    make: () => L.arcFace({ s: 8, easyMargin: true }),
  },
  'sphereface 1.35': { f: (c) => psi(1.35 * Math.acos(c)), make: () => L.sphereFace({ m1: 1.35, s: 8 }) },
  'sphereface 4, lambda 5': {
    f: (c) => (5 * c + psi(4 * Math.acos(c))) / 6,
    make: () => L.sphereFace({ m1: 4, s: 8, lambda: 5 }),
  },
  cm1: { f: (c) => psi(Math.acos(c) + 0.3) - 0.2, make: () => L.marginLossByName('cm1', { s: 8 }) },
  cm2: { f: (c) => psi(0.9 * Math.acos(c) + 0.4) - 0.15, make: () => L.marginLossByName('cm2', { s: 8 }) },
};

function normRows(v: number[], d: number): number[] {
  const out = v.slice();
  for (let i = 0; i < v.length; i += d) {
    let s = 0;
    for (let j = 0; j < d; j++) s += v[i + j] ** 2;
    const r = 1 / Math.sqrt(s);
    for (let j = 0; j < d; j++) out[i + j] *= r;
  }
  return out;
}
const dot = (a: number[], i: number, b: number[], j: number, d: number): number => {
  let s = 0;
  for (let k = 0; k < d; k++) s += a[i * d + k] * b[j * d + k];
  return s;
};
function crossEntropy(z: number[][], y: number[]): number {
  let total = 0;
  z.forEach((row, i) => {
    const m = Math.max(...row);
    total += m + Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0)) - row[y[i]];
  });
  return total / z.length;
}
/** Margin head loss: cos of normalised rows (class j = max over its k sub-centres), margin, CE. */
function headLoss(x: number[], w: number[], y: number[], d: number, k: number, f: Target, s: number): number {
  const xn = normRows(x, d);
  const wn = normRows(w, d);
  const n = x.length / d;
  const c = w.length / d / k;
  const z: number[][] = [];
  for (let i = 0; i < n; i++) {
    const row: number[] = [];
    for (let j = 0; j < c; j++) {
      let best = -Infinity;
      for (let q = 0; q < k; q++) best = Math.max(best, dot(xn, i, wn, j * k + q, d));
      row.push(s * (j === y[i] ? f(best) : best));
    }
    z.push(row);
  }
  return crossEntropy(z, y);
}
function fdGrad(f: (v: number[]) => number, v: number[]): number[] {
  return v.map((_, i) => {
    const h = 1e-6 * Math.max(1, Math.abs(v[i]));
    const up = v.slice();
    const dn = v.slice();
    up[i] += h;
    dn[i] -= h;
    return (f(up) - f(dn)) / (2 * h);
  });
}

const N = 6;
const D = 8;
const C = 5;
const Y = [0, 3, 1, 4, 3, 2];
const X = randn(11, N * D);
const W = randn(12, C * D);

for (const backend of BACKENDS) {
  describe(`loss gradients vs float64 finite differences (${backend})`, () => {
    before(async () => {
      await initRuntime(backend);
    });

    for (const [name, { f, make }] of Object.entries(TARGETS)) {
      test(`${name} head: d/dx and d/dW`, () => {
        const head = new L.MarginHead({
          numClasses: C,
          embeddingSize: D,
          loss: make(),
          initialWeight: t2(rows(W, D)),
        });
        const x = t2(rows(X, D));
        const y = labelsOf(Y);
        const g = head.gradients(x, y);
        assertClose(g.loss, headLoss(X, W, Y, D, 1, f, 8), `${name} loss`, { atol: 1e-6 * 8 });
        assertClose(
          read(g.dEmbeddings),
          fdGrad((v) => headLoss(v, W, Y, D, 1, f, 8), X),
          `${name} d/dx`,
        );
        assertClose(
          read(g.dWeight),
          fdGrad((v) => headLoss(X, v, Y, D, 1, f, 8), W),
          `${name} d/dW`,
        );
        tf.dispose([x, y, g.dEmbeddings, g.dWeight]);
        head.dispose();
      });
    }

    test('sub-center ArcFace (K = 2): d/dx and d/dW', () => {
      const W2 = randn(13, C * 2 * D);
      const head = new L.SubCenterArcFaceHead({
        numClasses: C,
        embeddingSize: D,
        k: 2,
        loss: L.arcFace({ s: 8 }),
        initialWeight: t2(rows(W2, D)),
      });
      const f = TARGETS.arcface.f;
      const x = t2(rows(X, D));
      const y = labelsOf(Y);
      const g = head.gradients(x, y);
      assertClose(
        read(g.dEmbeddings),
        fdGrad((v) => headLoss(v, W2, Y, D, 2, f, 8), X),
        'subcenter d/dx',
      );
      assertClose(
        read(g.dWeight),
        fdGrad((v) => headLoss(X, v, Y, D, 2, f, 8), W2),
        'subcenter d/dW',
      );
      tf.dispose([x, y, g.dEmbeddings, g.dWeight]);
      head.dispose();
    });

    test('straight-through ArcFace: gradient is that of the logits taken as s*cos', () => {
      const loss = L.arcFace({ s: 8, straightThrough: true });
      tf.tidy(() => {
        const cos = tf.clipByValue(tf.tensor2d(rows(randn(14, N * C, 0.4), C)), -0.9, 0.9) as tf.Tensor2D;
        const y = labelsOf(Y);
        const g = tf.grad((z: tf.Tensor) => L.softmaxCrossEntropy(loss.logits(z as tf.Tensor2D, y), y))(cos);
        const z = rows(Array.from(read(loss.logits(cos, y))), C);
        const expected = z.flatMap((row, i) => {
          const m = Math.max(...row);
          const e = row.map((v) => Math.exp(v - m));
          const sum = e.reduce((a, b) => a + b, 0);
          return e.map((v, j) => (8 * (v / sum - (j === Y[i] ? 1 : 0))) / N);
        });
        assertClose(read(g), expected, 'straight-through d/dcos');
      });
    });

    test('metric terms: intra, inter, triplet (batch-hard, semi-hard), centre', () => {
      const xn = (v: number[]): number[] => normRows(v, D);
      const intra = (v: number[]): number => {
        const a = xn(v);
        const b = xn(W);
        return Y.reduce((s, y, i) => s + Math.acos(dot(a, i, b, y, D)), 0) / (Math.PI * N);
      };
      const inter = (v: number[]): number => {
        const b = xn(v);
        let s = 0;
        Y.forEach((y) => {
          for (let j = 0; j < C; j++) if (j !== y) s += Math.acos(dot(b, y, b, j, D));
        });
        return -s / (Math.PI * N * (C - 1));
      };
      // Triplet: 3 identities x 2 samples; mining fixed from the unperturbed angles.
      const TY = [0, 1, 2, 0, 1, 2];
      const triplet = (mining: L.TripletMining, margin: number) => {
        const a0 = xn(X);
        const ang = Array.from({ length: N * N }, (_, q) =>
          Math.acos(Math.min(1, dot(a0, Math.floor(q / N), a0, q % N, D))),
        );
        const [A, P, Q] = L.mineTriplets(ang, Int32Array.from(TY), mining);
        return (v: number[]): number => {
          const a = xn(v);
          let s = 0;
          A.forEach((i, t) => {
            s += Math.max(0, Math.acos(dot(a, i, a, P[t], D)) + margin - Math.acos(dot(a, i, a, Q[t], D)));
          });
          return s / A.length;
        };
      };
      const centres = randn(15, C * D);
      const center = (v: number[]): number =>
        Y.reduce(
          (s, y, i) =>
            s + v.slice(i * D, i * D + D).reduce((q, x, j) => q + (x - centres[y * D + j]) ** 2, 0),
          0,
        ) /
        (2 * N);
      tf.tidy(() => {
        const x = t2(rows(X, D));
        const w = t2(rows(W, D));
        const y = labelsOf(Y);
        const cases: [string, tf.Tensor2D, (t: tf.Tensor) => tf.Scalar, number[], (v: number[]) => number][] =
          [
            [
              'intra',
              x,
              (t) =>
                L.intraLoss(
                  L.MarginHead.prototype.cosine.call({ weight: w } as L.MarginHead, t as tf.Tensor2D),
                  y,
                ),
              X,
              intra,
            ],
            ['inter', w, (t) => L.interLoss(t as tf.Tensor2D, y), W, inter],
            ['centre', x, (t) => L.centerLoss(t as tf.Tensor2D, y, t2(rows(centres, D))), X, center],
          ];
        for (const mining of ['batch-hard', 'semi-hard'] as const) {
          for (const margin of [0.3, 1.5]) {
            cases.push([
              `triplet ${mining} ${margin}`,
              x,
              (t) => L.tripletLoss(t as tf.Tensor2D, labelsOf(TY), { mining, margin }),
              X,
              triplet(mining, margin),
            ]);
          }
        }
        for (const [what, input, f, v, ref] of cases) {
          const { value, grad } = tf.valueAndGrad(f)(input);
          assertClose(read(value), ref(v), `${what} value`);
          const fd = fdGrad(ref, v);
          assert.ok(
            fd.some((g) => g !== 0),
            `${what}: the reference gradient is all zero, the test would prove nothing`,
          );
          assertClose(read(grad), fd, `${what} gradient`);
        }
      });
    });
  });
}
