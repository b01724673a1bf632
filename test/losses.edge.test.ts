/**
 * Edge cases and contracts: angles at 0 and pi, theta + m > pi, degenerate settings that must
 * reduce to simpler losses, bad inputs, SphereFace's lambda schedule, sub-centre bookkeeping,
 * and no tensor leaks over 20 forward/backward steps.
 */
import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import { initRuntime } from '../src/runtime/backend.js';
import { tf } from '../src/losses/tf.js';
import * as L from '../src/losses/index.js';
import { BACKENDS, assertClose, labelsOf, randn, read, rows, t2 } from './losses.helpers.test.js';

const code = (c: string) => (e: unknown) => {
  if (e instanceof Error && (e as { code?: string }).code === c) return true;
  throw new Error(`expected ${c}, got: ${String(e)}`);
};
const ALL = (): L.MarginLoss[] => [
  L.normSoftmax(),
  L.sphereFace(),
  L.sphereFace({ m1: 4 }),
  L.sphereFace({ m1: 4, lambda: { iteration: 10 } }),
  L.cosFace(),
  L.arcFace(),
  L.arcFace({ easyMargin: true }),
  L.arcFace({ straightThrough: true }),
  L.marginLossByName('cm1'),
  L.marginLossByName('cm2'),
  L.marginLossByName('softmax'),
];
const tag = (l: L.MarginLoss, i: number) => `${l.name}#${i}`;

for (const backend of BACKENDS) {
  describe(`losses edge cases (${backend})`, () => {
    before(async () => {
      await initRuntime(backend);
    });

    test('theta at and next to 0 and pi: finite targets and slopes', () => {
      const c = [
        1,
        Math.fround(1 - 2 ** -24),
        Math.fround(1 - 1e-6),
        0,
        Math.fround(-1 + 1e-6),
        Math.fround(-1 + 2 ** -24),
        -1,
        1.0000001,
        -1.0000001,
      ];
      ALL().forEach((loss, i) => {
        tf.tidy(() => {
          const x = tf.tensor1d(c);
          const { value, grad } = tf.valueAndGrad((z: tf.Tensor) => tf.sum(loss.target(z)) as tf.Scalar)(x);
          const t = read(loss.target(x));
          for (const v of [...t, ...read(grad), ...read(value)])
            assert.ok(Number.isFinite(v), `${tag(loss, i)}: ${Array.from(t)} / ${Array.from(read(grad))}`);
        });
      });
    });

    test('heads with x = W_y and x = -W_y: finite loss and gradients', () => {
      const w = randn(21, 4 * 6);
      const x = [...w.slice(6, 12), ...w.slice(0, 6).map((v) => -v), ...w.slice(18, 24)];
      for (const loss of ALL()) {
        if (loss.name === 'softmax') continue;
        const head = new L.MarginHead({
          numClasses: 4,
          embeddingSize: 6,
          loss,
          initialWeight: t2(rows(w, 6)),
        });
        const g = head.gradients(t2(rows(x, 6)), labelsOf([1, 0, 3]));
        assert.ok(Number.isFinite(g.loss), loss.name);
        for (const v of [...read(g.dEmbeddings), ...read(g.dWeight)])
          assert.ok(Number.isFinite(v), `${loss.name} gradient ${read(g.dEmbeddings)}`);
        tf.dispose([g.dEmbeddings, g.dWeight]);
        head.dispose();
      }
    });

    test('target logits decrease over theta in [0, pi] on a 4001-point grid (theta + m > pi included)', () => {
      const theta = Array.from({ length: 4001 }, (_, i) => (Math.PI * i) / 4000);
      ALL().forEach((loss, i) => {
        const t = tf.tidy(() => read(loss.target(tf.tensor1d(theta.map(Math.cos)))));
        let rises = 0;
        for (let k = 1; k < t.length; k++) if (t[k] > t[k - 1] + 1e-6) rises++;
        if (loss.name === 'arcface' && i === 7) {
          // straightThrough is arcface_torch's recipe: no fallback, cos(theta + m) turns back up past pi - m.
          assert.ok(rises > 0, 'straight-through is documented as non-monotone past pi - m');
        } else if (loss.name === 'arcface' && i === 6) {
          // easyMargin (InsightFace's option) jumps from cos(pi/2 + m) back up to cos at theta = pi/2.
          assert.equal(rises, 1, 'easy margin: one jump, at 90 degrees');
          const k = t.findIndex((v, j) => j > 0 && v > t[j - 1] + 1e-6);
          assert.ok(Math.abs(theta[k] - Math.PI / 2) < 1e-3 && t[k] - t[k - 1] > 0.4, `rise at ${theta[k]}`);
        } else {
          assert.equal(rises, 0, `${tag(loss, i)} rises ${rises} times`);
          assert.ok(t[t.length - 1] < t[0], `${tag(loss, i)} is not decreasing`);
        }
      });
    });

    test('ArcFace past pi - m: the InsightFace fallback cos - m*sin(m)', () => {
      tf.tidy(() => {
        const c = [Math.cos(Math.PI - 0.4), Math.cos(Math.PI - 0.1)];
        const t = read(L.arcFace().target(tf.tensor1d(c)));
        assertClose(
          t,
          c.map((v) => v - 0.5 * Math.sin(0.5)),
          'fallback',
          { rtol: 1e-6, atol: 1e-7 },
        );
      });
    });

    test('m = 0: ArcFace equals Norm-Softmax (logits and gradient)', () => {
      tf.tidy(() => {
        const cos = tf.clipByValue(t2(rows(randn(22, 40, 0.5), 8)), -1, 1) as tf.Tensor2D;
        const y = labelsOf([0, 7, 3, 3, 5]);
        const run = (loss: L.MarginLoss) =>
          tf.valueAndGrad((z: tf.Tensor) => L.softmaxCrossEntropy(loss.logits(z as tf.Tensor2D, y), y))(cos);
        const a = run(L.arcFace({ m: 0 }));
        const b = run(L.normSoftmax());
        assert.deepEqual(read(L.arcFace({ m: 0 }).logits(cos, y)), read(L.normSoftmax().logits(cos, y)));
        assertClose(read(a.value), Array.from(read(b.value)), 'loss', { rtol: 1e-6 });
        assertClose(read(a.grad), Array.from(read(b.grad)), 'grad', { rtol: 1e-6 });
      });
    });

    test('K = 1: sub-center ArcFace equals the ArcFace head', () => {
      const w = t2(rows(randn(23, 6 * 10), 10));
      const x = t2(rows(randn(24, 4 * 10), 10));
      const y = labelsOf([5, 0, 2, 5]);
      const a = new L.MarginHead({ numClasses: 6, embeddingSize: 10, loss: L.arcFace(), initialWeight: w });
      const b = new L.SubCenterArcFaceHead({ numClasses: 6, embeddingSize: 10, k: 1, initialWeight: w });
      const ga = a.gradients(x, y);
      const gb = b.gradients(x, y);
      assert.equal(gb.loss, ga.loss);
      assert.deepEqual(read(gb.dEmbeddings), read(ga.dEmbeddings));
      assert.deepEqual(read(gb.dWeight), read(ga.dWeight));
      assert.deepEqual(Array.from(b.dominantCenters()), [0, -1, 0, -1, -1, 0]);
      tf.dispose([w, x, y, ga.dEmbeddings, ga.dWeight, gb.dEmbeddings, gb.dWeight]);
      a.dispose();
      b.dispose();
    });

    test('sub-centres: dominant centre follows the samples; angle to it', () => {
      // Class 0's sub-centre 2 points along e0, the samples sit near e0.
      const d = 4;
      const w = [
        [0, 1, 0, 0],
        [0, 0, 1, 0],
        [1, 0, 0, 0],
        [0, 0, 0, 1],
        [0, -1, 0, 0],
        [0, 0, -1, 0],
      ];
      const head = new L.SubCenterArcFaceHead({
        numClasses: 2,
        embeddingSize: d,
        k: 3,
        initialWeight: t2(w),
      });
      const x = t2([
        [1, 0.1, 0, 0],
        [1, 0, 0.1, 0],
        [0.2, 1, 0, 0],
      ]);
      const y = labelsOf([0, 0, 0]);
      const out = head.forward(x, y);
      tf.dispose([out.loss, out.logits, out.cos]);
      assert.deepEqual(Array.from(head.dominantCenters()), [2, -1]);
      const ang = head.anglesToDominant(x, y);
      assert.ok(Math.abs(ang[0] - Math.atan(0.1)) < 1e-6 && ang[2] > 1.2, String(ang));
      tf.dispose([x, y]);
      head.dispose();
    });

    test('bad labels: out of range, negative, non-integer, NaN, wrong length, wrong rank', () => {
      const head = new L.MarginHead({ numClasses: 3, embeddingSize: 4, loss: L.arcFace(), seed: 1 });
      const x = t2(rows(randn(25, 8), 4));
      const cos = tf.zeros([2, 3]) as tf.Tensor2D;
      const bad: tf.Tensor[] = [
        labelsOf([0, 3]),
        labelsOf([-1, 0]),
        tf.tensor1d([0, 1.5], 'float32'),
        tf.tensor1d([0, NaN], 'float32'),
        labelsOf([0]),
        tf.tensor2d([[0, 1]], undefined, 'int32'),
      ];
      for (const y of bad) {
        assert.throws(() => head.forward(x, y as tf.Tensor1D), code('BAD_LABELS'), String(y));
        assert.throws(() => L.arcFace().logits(cos, y as tf.Tensor1D), code('BAD_LABELS'));
        assert.throws(() => L.softmaxCrossEntropy(cos, y as tf.Tensor1D), code('BAD_LABELS'));
      }
      // float32 labels holding whole numbers are accepted.
      const ok = head.forward(x, tf.tensor1d([2, 0], 'float32'));
      assert.ok(Number.isFinite(read(ok.loss)[0]));
      tf.dispose([x, cos, ...bad, ok.loss, ok.logits, ok.cos]);
      head.dispose();
    });

    test('shapes: N = 0, wrong embedding size, wrong rank, C = 1', () => {
      const head = new L.MarginHead({ numClasses: 3, embeddingSize: 4, loss: L.arcFace(), seed: 1 });
      const empty = tf.zeros([0, 4]) as tf.Tensor2D;
      const none = labelsOf([]);
      assert.throws(() => head.forward(empty, none), code('BAD_SHAPE'));
      assert.throws(() => L.softmaxCrossEntropy(tf.zeros([0, 3]) as tf.Tensor2D, none), code('BAD_SHAPE'));
      assert.throws(() => L.tripletLoss(empty, none), code('BAD_SHAPE'));
      // logits() is elementwise: an empty batch gives an empty result.
      assert.deepEqual(L.arcFace().logits(tf.zeros([0, 3]) as tf.Tensor2D, none).shape, [0, 3]);
      assert.throws(() => head.forward(tf.zeros([2, 5]) as tf.Tensor2D, labelsOf([0, 1])), code('BAD_SHAPE'));
      assert.throws(
        () => L.arcFace().logits(tf.zeros([3]) as unknown as tf.Tensor2D, labelsOf([0, 1, 2])),
        code('BAD_SHAPE'),
      );
      assert.throws(
        () =>
          L.centerLoss(tf.zeros([2, 4]) as tf.Tensor2D, labelsOf([0, 1]), tf.zeros([3, 5]) as tf.Tensor2D),
        code('BAD_SHAPE'),
      );
      assert.throws(
        () => new L.MarginHead({ numClasses: 0, embeddingSize: 4, loss: L.arcFace() }),
        code('BAD_CONFIG'),
      );
      // C = 1: a single class is always right, loss 0, zero gradients, no NaN.
      const one = new L.MarginHead({ numClasses: 1, embeddingSize: 4, loss: L.arcFace(), seed: 2 });
      const x = t2(rows(randn(26, 8), 4));
      const g = one.gradients(x, labelsOf([0, 0]));
      assert.equal(g.loss, 0);
      for (const v of [...read(g.dEmbeddings), ...read(g.dWeight)]) assert.equal(v, 0);
      assert.equal(read(L.interLoss(one.weight as tf.Tensor2D, labelsOf([0, 0])))[0], 0);
      tf.dispose([empty, none, x, g.dEmbeddings, g.dWeight]);
      one.dispose();
      head.dispose();
    });

    test('NaN: heads reject non-finite embeddings; logits() passes NaN through to its row (documented)', () => {
      const head = new L.MarginHead({ numClasses: 3, embeddingSize: 2, loss: L.arcFace(), seed: 1 });
      assert.throws(() => head.forward(t2([[NaN, 1]]), labelsOf([0])), code('BAD_INPUT'));
      assert.throws(() => head.forward(t2([[Infinity, 1]]), labelsOf([0])), code('BAD_INPUT'));
      // Targets are picked and replaced by one-hot products, so a NaN anywhere in a row
      // makes that whole row NaN; other rows are untouched.
      const z = read(
        L.arcFace().logits(
          t2([
            [0.5, NaN, 0.1],
            [0.5, 0.2, 0.1],
          ]),
          labelsOf([0, 0]),
        ),
      );
      assert.ok(z.slice(0, 3).every(Number.isNaN), String(z));
      assert.ok(z.slice(3).every(Number.isFinite), 'other rows unaffected');
      head.dispose();
    });

    test('config errors: unknown name, margin out of range, combined without margins', () => {
      assert.throws(() => L.marginLossByName('arcfaec'), code('BAD_CONFIG'));
      assert.throws(() => L.arcFace({ m: -0.1 }), code('BAD_CONFIG'));
      assert.throws(() => L.arcFace({ m: 4 }), code('BAD_CONFIG'));
      assert.throws(() => L.arcFace({ s: 0 }), code('BAD_CONFIG'));
      assert.throws(() => L.marginLossByName('combined', { m1: 1 }), code('BAD_CONFIG'));
      assert.throws(
        () => L.tripletLoss(t2([[1, 0]]), labelsOf([0]), { mining: 'hard' as L.TripletMining }),
        code('BAD_CONFIG'),
      );
    });

    test('SphereFace lambda anneals as max(lambdaMin, base*(1+gamma*iter)^-power), one step per head forward', () => {
      const loss = L.sphereFace({ m1: 4, lambda: { base: 1000, gamma: 0.12, power: 1, lambdaMin: 5 } });
      assert.equal(loss.lambda, 1000);
      const head = new L.MarginHead({ numClasses: 3, embeddingSize: 2, loss, seed: 1 });
      for (let i = 0; i < 3; i++) {
        const o = head.forward(t2([[1, 0]]), labelsOf([0]));
        tf.dispose([o.loss, o.logits, o.cos]);
      }
      assert.equal(loss.iteration, 3);
      assert.ok(Math.abs(loss.lambda - 1000 / 1.36) < 1e-9);
      loss.setIteration(100000);
      assert.equal(loss.lambda, 5);
      head.dispose();
      // The target blends cos and psi: lambda = 5 at cos = 0.5 (theta = 60 deg, psi(4*60 deg) = -cos(240 deg) - 2).
      const t = read(L.sphereFace({ m1: 4, lambda: 5 }).target(tf.tensor1d([0.5])))[0];
      assert.ok(Math.abs(t - (5 * 0.5 + (0.5 - 2)) / 6) < 1e-6, String(t));
    });

    test('no tensor leaks over 20 forward/backward steps of every head and objective', () => {
      const x = t2(rows(randn(27, 6 * 8), 8));
      const y = labelsOf([0, 1, 2, 0, 1, 2]);
      const heads = [
        ...ALL()
          .filter((l) => l.name !== 'softmax')
          .map((loss) => new L.MarginHead({ numClasses: 4, embeddingSize: 8, loss, seed: 3 })),
        new L.SubCenterArcFaceHead({ numClasses: 4, embeddingSize: 8, seed: 3 }),
        new L.SoftmaxHead({ numClasses: 4, embeddingSize: 8, seed: 3 }),
      ];
      const objective = new L.CombinedObjective(
        new L.MarginHead({ numClasses: 4, embeddingSize: 8, loss: L.arcFace(), seed: 4 }),
        {
          intra: 1,
          inter: 1,
          triplet: { margin: 0.35, mining: 'semi-hard' },
        },
      );
      const center = new L.CenterLoss({ numClasses: 4, featureSize: 8 });
      const opt = tf.train.sgd(0.1);
      const step = (): void => {
        for (const h of heads) {
          const g = h.gradients(x, y);
          tf.dispose([g.dEmbeddings, g.dWeight, (g as { dBias?: tf.Tensor }).dBias ?? []]);
          const o = h.forward(x, y);
          tf.dispose([o.loss, o.logits, o.cos]);
        }
        const g = objective.gradients(x, y);
        tf.dispose([g.dEmbeddings, g.dWeight]);
        opt.minimize(() => objective.forward(x, y).loss);
        center.update(x, y);
        tf.dispose(center.loss(x, y));
      };
      step();
      const before = tf.memory().numTensors;
      for (let i = 0; i < 20; i++) step();
      assert.equal(tf.memory().numTensors, before);
      opt.dispose();
      for (const h of heads) h.dispose();
      objective.head.dispose();
      center.dispose();
      tf.dispose([x, y]);
    });
  });
}
