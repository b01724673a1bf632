/**
 * tfjs (wasm and cpu) against the float64 PyTorch reference in test/fixtures/losses.json
 * (tools/reference/losses_reference.py): values and gradients of every loss, with target
 * angles near 0, near pi and past pi - m. Tolerance 1e-5 relative plus an absolute floor of
 * 1e-6 x the array's largest entry (float32 rounding of the sums that make each entry).
 */
import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import { initRuntime } from '../src/runtime/backend.js';
import { tf } from '../src/losses/tf.js';
import * as L from '../src/losses/index.js';
import { BACKENDS, assertClose, labelsOf, loadFixture, maxAbs, read, t2 } from './losses.helpers.test.js';

const fx = loadFixture('losses.json');
const label = (spec: any): string => `${spec.name} ${JSON.stringify(spec.opts ?? {})}`;
const lossOf = (spec: any): L.MarginLoss => L.marginLossByName(spec.name, spec.opts ?? {});

for (const backend of BACKENDS) {
  describe(`losses vs PyTorch float64 (${backend})`, () => {
    before(async () => {
      await initRuntime(backend);
    });

    test('margin logits, CE value and d/dcos at edge angles', () => {
      for (const c of fx.margin) {
        const loss = lossOf(c.loss);
        tf.tidy(() => {
          const cos = t2(c.cos);
          const y = labelsOf(c.labels);
          assertClose(read(loss.logits(cos, y)), c.logits, `${label(c.loss)} logits`);
          const { value, grad } = tf.valueAndGrad((z: tf.Tensor) =>
            L.softmaxCrossEntropy(loss.logits(z as tf.Tensor2D, y), y),
          )(cos);
          assertClose(read(value), c.value, `${label(c.loss)} loss`, { atol: 1e-6 * loss.scale });
          assertClose(read(grad), c.grad_cos, `${label(c.loss)} d/dcos`);
        });
      }
    });

    test('target-logit curves and their slopes on a 61-point theta grid', () => {
      for (const c of fx.curves) {
        const loss = lossOf(c.loss);
        tf.tidy(() => {
          const cos = tf.tensor1d(c.cos, 'float32');
          assertClose(read(loss.target(cos)), c.target, `${label(c.loss)} target`);
          const slope = tf.grad((z: tf.Tensor) => tf.sum(loss.target(z)))(cos);
          assertClose(read(slope), c.dtarget, `${label(c.loss)} dtarget`);
        });
      }
    });

    test('heads: loss, d/dx and d/dW from raw embeddings and weights', () => {
      for (const c of fx.heads) {
        const x = t2(c.x);
        const w = t2(c.w);
        const y = labelsOf(c.labels);
        const name = c.kind === 'margin' ? label(c.loss) : c.kind;
        let head: L.MarginHead | L.SubCenterArcFaceHead | L.SoftmaxHead;
        if (c.kind === 'margin') {
          head = new L.MarginHead({
            numClasses: c.w.length,
            embeddingSize: c.w[0].length,
            loss: lossOf(c.loss),
            initialWeight: w,
          });
        } else if (c.kind === 'subcenter') {
          const sub = new L.SubCenterArcFaceHead({
            numClasses: c.w.length / c.k,
            embeddingSize: c.w[0].length,
            k: c.k,
            loss: lossOf(c.loss),
            initialWeight: w,
          });
          assert.deepEqual(Array.from(sub.nearestSubCenters(x, y)), c.nearest, 'nearest sub-centres');
          head = sub;
        } else {
          head = new L.SoftmaxHead({
            numClasses: c.w.length,
            embeddingSize: c.w[0].length,
            initialWeight: w,
          });
          head.bias.assign(tf.tensor1d(c.b, 'float32'));
        }
        const g = head.gradients(x, y) as L.HeadGradients & { dBias?: tf.Tensor };
        assertClose(g.loss, c.value, `${name} loss`, { atol: 1e-6 * 8 });
        // Samples 0 and 1 sit 0.02 rad from their centre and from its antipode. The float32
        // matmul gives their cos with ~1e-7 absolute error, i.e. ~2.5e-4 relative error in
        // sin(theta) and in every slope carrying 1/sin(theta) (PyTorch float32 has the same).
        // Those rows, and the weight rows of their classes, get 3e-4 of the row's largest entry
        // (the error perturbs the row vector as a whole); all else 1e-5 relative.
        const dx = read(g.dEmbeddings);
        const d = c.x[0].length;
        c.grad_x.forEach((row: number[], i: number) =>
          assertClose(
            dx.subarray(i * d, (i + 1) * d),
            row,
            `${name} d/dx row ${i}`,
            i < 2 ? { rtol: 3e-4, atol: 3e-4 * maxAbs(row) } : { atol: 1e-6 * maxAbs(c.grad_x) },
          ),
        );
        const dw = read(g.dWeight);
        const rowsPer = c.kind === 'subcenter' ? c.k : 1;
        const loose = new Set([c.labels[0], c.labels[1]]);
        c.grad_w.forEach((row: number[], j: number) =>
          assertClose(
            dw.subarray(j * d, (j + 1) * d),
            row,
            `${name} d/dW row ${j}`,
            loose.has(Math.floor(j / rowsPer))
              ? { rtol: 3e-4, atol: 3e-4 * maxAbs(row) }
              : { atol: 1e-6 * maxAbs(c.grad_w) },
          ),
        );
        if (c.grad_b) assertClose(read(g.dBias!), c.grad_b, `${name} d/db`);
        tf.dispose([x, w, y, g.dEmbeddings, g.dWeight, g.dBias ?? []]);
        head.dispose();
      }
    });

    test('metric losses: intra, inter, triplet (both minings), centre', () => {
      for (const c of fx.metric) {
        tf.tidy(() => {
          const y = labelsOf(c.labels);
          const what = c.kind === 'triplet' ? `triplet ${c.mining} m=${c.margin}` : c.kind;
          let input: tf.Tensor2D;
          let f: (z: tf.Tensor) => tf.Scalar;
          let expected: unknown;
          if (c.kind === 'intra') {
            input = t2(c.cos);
            f = (z) => L.intraLoss(z as tf.Tensor2D, y);
            expected = c.grad_cos;
          } else if (c.kind === 'inter') {
            input = t2(c.w);
            f = (z) => L.interLoss(z as tf.Tensor2D, y);
            expected = c.grad_w;
          } else if (c.kind === 'triplet') {
            input = t2(c.x);
            f = (z) => L.tripletLoss(z as tf.Tensor2D, y, { margin: c.margin, mining: c.mining });
            expected = c.grad_x;
          } else {
            input = t2(c.x);
            const centers = t2(c.centers);
            f = (z) => L.centerLoss(z as tf.Tensor2D, y, centers);
            expected = c.grad_x;
            const cl = new L.CenterLoss({
              numClasses: c.centers.length,
              featureSize: c.centers[0].length,
              alpha: c.alpha,
              initialCenters: centers,
            });
            cl.update(input, y);
            assertClose(read(cl.centers), c.updated_centers, 'centre update');
            cl.dispose();
          }
          const { value, grad } = tf.valueAndGrad(f)(input);
          assertClose(read(value), c.value, `${what} value`);
          assertClose(read(grad), expected, `${what} gradient`);
        });
      }
    });

    test('ArcFace + Intra / Inter / Triplet objectives (paper Table 2)', () => {
      for (const c of fx.objectives) {
        const w = t2(c.w);
        const head = new L.MarginHead({
          numClasses: c.w.length,
          embeddingSize: c.w[0].length,
          loss: lossOf(c.loss),
          initialWeight: w,
        });
        const terms: L.ObjectiveTerms =
          c.term === 'triplet' ? { triplet: { margin: 0.35 } } : { [c.term]: 1 };
        const obj = new L.CombinedObjective(head, terms);
        const x = t2(c.x);
        const y = labelsOf(c.labels);
        const g = obj.gradients(x, y);
        assertClose(g.loss, c.value, `arcface+${c.term} loss`, { atol: 1e-6 * 8 });
        assertClose(read(g.dEmbeddings), c.grad_x, `arcface+${c.term} d/dx`);
        assertClose(read(g.dWeight), c.grad_w, `arcface+${c.term} d/dW`);
        tf.dispose([w, x, y, g.dEmbeddings, g.dWeight]);
        head.dispose();
      }
    });
  });
}
