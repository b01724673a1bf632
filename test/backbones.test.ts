/**
 * The backbones against PyTorch modules written from arcface_torch's definitions
 * (tools/reference/backbones_reference.py -> test/fixtures/backbones.json): trainable parameter
 * counts of all five; with every weight and BN buffer filled from the same mulberry32 stream,
 * the eval-mode embeddings of iresnet18, iresnet50 and mobilefacenet, and for iresnet18 and
 * mobilefacenet one training-mode step (batch-statistics output, running statistics after it,
 * gradients of sum(y * r), against float64). Tolerance 1e-4 of each array's largest entry, or
 * 10x PyTorch's own float32 error where that is larger.
 */
import { test, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { initRuntime, tf } from '../src/runtime/backend.js';
import { rng } from '../src/util/random.js';
import {
  BACKBONE_NAMES,
  createBackbone,
  loadTorchStateDict,
  tfjsToTorch,
  toTorchStateDict,
  torchToTfjs,
  type Backbone,
  type BackboneName,
  type WeightSpec,
} from '../src/backbones/index.js';
import { fusedBatchNorm, type BatchNormWeights } from '../src/backbones/layers.js';
import { relErr } from './helpers.js';

const fx = JSON.parse(readFileSync(new URL('./fixtures/backbones.json', import.meta.url), 'utf8'));
const TOL = 1e-4;

/** The reference's `fill_value`, on the same stream order (state_dict order, PyTorch layout). */
function fillValue(spec: WeightSpec, u: number): number {
  const { name, module, torchShape } = spec;
  if ((module === 'conv' || module === 'linear') && name.endsWith('.weight')) {
    const fanIn = torchShape.reduce((a, b) => a * b, 1) / torchShape[0];
    return (u - 0.5) * 2 * Math.sqrt(3 / fanIn);
  }
  if (module === 'prelu') return 0.25 + (u - 0.5) * 0.1;
  if (module === 'batchnorm' && name.endsWith('.weight')) return 0.75 + 0.5 * u;
  if (name.endsWith('.running_var')) return 0.5 + u;
  return (u - 0.5) * 0.1;
}

function fillFromStream(bb: Backbone, seed: number): void {
  const random = rng(seed);
  loadTorchStateDict(bb, (spec) => {
    const n = spec.torchShape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = fillValue(spec, random());
    return { shape: spec.torchShape, data };
  });
}

/**
 * The reference input: NCHW [4, 3, 112, 112] from rng(seed + 1), given to us as NHWC. Eval runs
 * the first 2 images, training all 4 (a BN over 2 values is ill-conditioned where they are close).
 */
function referenceInput(): tf.Tensor4D {
  const random = rng(fx.seed + 1);
  const data = Float32Array.from({ length: 4 * 3 * 112 * 112 }, () => (random() - 0.5) * 2);
  return tf.tidy(() => tf.transpose(tf.tensor4d(data, [4, 3, 112, 112]), [0, 2, 3, 1]));
}

function assertClose(actual: ArrayLike<number>, expected: number[], what: string, tol = TOL): void {
  const e = relErr(actual, expected);
  assert.ok(e < tol, `${what}: relative error ${e.toExponential(2)} >= ${tol.toExponential(2)}`);
}

describe('backbones vs PyTorch (arcface_torch definitions)', () => {
  let x4: tf.Tensor4D;
  let x: tf.Tensor4D;
  before(async () => {
    await initRuntime();
    x4 = referenceInput();
    x = tf.slice(x4, 0, 2);
  });

  test('trainable parameter counts of all five', () => {
    for (const name of BACKBONE_NAMES) {
      const bb = createBackbone({ name });
      assert.equal(bb.paramCount(), fx.counts[name], name);
      assert.equal(
        bb.trainable.length,
        bb.weightSpecs().filter((s) => s.trainable).length,
        `${name}: trainable list`,
      );
      bb.dispose();
    }
  });

  for (const name of ['iresnet18', 'iresnet50', 'mobilefacenet'] as BackboneName[]) {
    test(`${name}: eval-mode embeddings`, () => {
      const bb = createBackbone({ name });
      fillFromStream(bb, fx.seed);
      const y = bb.apply(x, false);
      assert.deepEqual(y.shape, [2, 512]);
      assertClose(y.dataSync(), fx.eval[name], `${name} eval output`);
      y.dispose();
      bb.dispose();
    });
  }

  for (const name of ['iresnet18', 'mobilefacenet'] as BackboneName[]) {
    test(`${name}: training step (batch statistics, running statistics, gradients)`, () => {
      const ref = fx.train[name];
      // Float64 reference; where float32 itself is far from it (gradients that go back through
      // many batch-statistics BNs), allow 10x PyTorch's own float32 error.
      const tolOf = (key: string) => Math.max(TOL, 10 * ref.torchFloat32Error[key]);
      const bb = createBackbone({ name });
      fillFromStream(bb, fx.seed);
      const random = rng(fx.seed + 2);
      const r = tf.tensor2d(
        Float32Array.from({ length: 4 * 512 }, () => (random() - 0.5) * 2),
        [4, 512],
      );
      let y: tf.Tensor | undefined;
      const { value, grads } = tf.variableGrads(() => {
        const out = bb.apply(x4, true);
        y = tf.keep(out.clone());
        return tf.sum(tf.mul(out, r)) as tf.Scalar;
      }, bb.trainable);
      assertClose(y!.dataSync(), ref.output, `${name} training-mode output`, tolOf('output'));

      const weights = bb.namedWeights();
      for (const [key, expected] of Object.entries(ref.running) as [string, number[]][]) {
        assertClose(weights.get(key)!.dataSync(), expected, key, tolOf(key));
      }
      const specs = new Map(bb.weightSpecs().map((s) => [s.name, s]));
      const byVar = new Map(bb.trainable.map((v) => [v.name, v]));
      for (const [key, expected] of Object.entries(ref.grads) as [string, number[]][]) {
        const g = grads[weights.get(key)!.name];
        assert.ok(g, `${key} has a gradient`);
        assertClose(
          tfjsToTorch(g.dataSync() as Float32Array, specs.get(key)!),
          expected,
          `d/d ${key}`,
          tolOf(key),
        );
      }
      // Every trainable variable gets a finite gradient; the frozen BN1d scale is not trainable.
      assert.equal(Object.keys(grads).length, bb.trainable.length);
      for (const [vname, g] of Object.entries(grads)) {
        assert.ok(byVar.has(vname), `${vname} is trainable`);
        assert.ok((g.dataSync() as Float32Array).every(Number.isFinite), `${vname}: gradient not finite`);
      }
      if (name === 'iresnet18') {
        assert.equal(specs.get('features.weight')!.trainable, false);
        assert.ok(!bb.trainable.includes(weights.get('features.weight')!), 'features.weight is frozen');
        assert.ok(bb.trainable.includes(weights.get('features.bias')!), 'features.bias trains');
      }
      tf.dispose([value, y!, r, ...Object.values(grads)]);
      bb.dispose();
    });
  }
});

describe('backbones: structure and errors', () => {
  before(async () => {
    await initRuntime();
  });

  test('the graph reads every named weight once, each input before it is used', () => {
    for (const name of ['iresnet18', 'mobilefacenet'] as BackboneName[]) {
      const bb = createBackbone({ name });
      const g = bb.graph();
      const seen = new Set([g.input]);
      const used: string[] = [];
      for (const n of g.nodes) {
        for (const i of n.inputs) assert.ok(seen.has(i), `${name}: ${n.name} reads ${i} before it exists`);
        seen.add(n.output);
        used.push(...n.weights);
      }
      assert.equal(g.output, g.nodes[g.nodes.length - 1].output);
      assert.deepEqual(used.slice().sort(), [...bb.namedWeights().keys()].sort());
      bb.dispose();
    }
  });

  test('PyTorch layouts: conversion round-trips, state_dict round-trips', () => {
    const random = rng(9);
    const cases: Pick<WeightSpec, 'torchShape' | 'layout' | 'groups'>[] = [
      { torchShape: [128, 2, 3, 3], layout: 'conv', groups: 64 },
      { torchShape: [64, 3, 3, 3], layout: 'conv', groups: 1 },
      { torchShape: [512, 1, 7, 7], layout: 'conv', groups: 512 },
      { torchShape: [5, 7], layout: 'linear', groups: 1 },
    ];
    for (const spec of cases) {
      const data = Float32Array.from({ length: spec.torchShape.reduce((a, b) => a * b, 1) }, random);
      assert.deepEqual(tfjsToTorch(torchToTfjs(data, spec), spec), data);
    }
    // Grouped conv: torch [g * 2 + o, i, y, x] lands at tfjs [y, x, g * 2 + i, o] (depthwise multiplier o).
    const grouped = new Float32Array(128 * 2 * 9);
    grouped[((((5 * 2 + 1) * 2 + 0) * 3 + 2) * 3 + 1) | 0] = 1; // g 5, o 1, i 0, y 2, x 1
    const moved = torchToTfjs(grouped, cases[0]);
    assert.equal(moved[((2 * 3 + 1) * 128 + (5 * 2 + 0)) * 2 + 1], 1);
    assert.equal(
      moved.reduce((a, b) => a + b, 0),
      1,
    );
    assert.deepEqual(
      torchToTfjs(Float32Array.from([1, 2, 3, 4, 5, 6]), { torchShape: [2, 3], layout: 'linear', groups: 1 }),
      Float32Array.from([1, 4, 2, 5, 3, 6]),
    );
    const bb = createBackbone({ name: 'mobilefacenet', seed: 3 });
    const sd = toTorchStateDict(bb);
    const other = createBackbone({ name: 'mobilefacenet', seed: 4 });
    loadTorchStateDict(other, (s) => sd.get(s.name));
    const a = bb.namedWeights();
    for (const [k, v] of other.namedWeights()) assert.deepEqual(v.dataSync(), a.get(k)!.dataSync(), k);
    bb.dispose();
    other.dispose();
  });

  test('bad input and config are refused with clear errors', () => {
    assert.throws(
      () => createBackbone({ name: 'resnet9' as BackboneName }),
      /BAD_CONFIG|unknown name "resnet9"/,
    );
    assert.throws(
      () => createBackbone({ name: 'mobilefacenet', blocks: [1, 2, 3] }),
      (e: any) => e.code === 'BAD_CONFIG' && /blocks must be 4/.test(e.message),
    );
    assert.throws(
      () => createBackbone({ name: 'iresnet18', dropout: 1 }),
      (e: any) => e.code === 'BAD_CONFIG' && /dropout/.test(e.message),
    );
    assert.throws(
      () => createBackbone({ name: 'iresnet18', scale: 2 }),
      (e: any) => e.code === 'BAD_CONFIG' && /mobilefacenet only/.test(e.message),
    );
    const bb = createBackbone({ name: 'mobilefacenet' });
    const wrong = tf.zeros([1, 96, 96, 3]) as tf.Tensor4D;
    assert.throws(
      () => bb.apply(wrong, false),
      (e: any) => e.code === 'BAD_SHAPE' && /112, 112, 3/.test(e.message),
    );
    const one = tf.zeros([1, 112, 112, 3]) as tf.Tensor4D;
    // Refused at the first BN, before any running statistic moves.
    const stat = () => bb.namedWeights().get('layers.0.layers.1.running_mean')!.dataSync().slice();
    const before = stat();
    const live = tf.memory().numTensors;
    assert.throws(
      () => bb.apply(one, true),
      (e: any) => e.code === 'BAD_SHAPE' && /batch of 2/.test(e.message),
    );
    assert.deepEqual(stat(), before);
    assert.equal(tf.memory().numTensors, live, 'no tensor left behind');
    tf.dispose([wrong, one]);
    bb.dispose();
  });
});

describe('backbones: fused training-mode BN (+ PReLU) custom gradient', () => {
  before(async () => {
    await initRuntime();
  });

  /** The composite the fused op replaces: tf.moments + tf.batchNorm (+ tf.prelu), by autodiff. */
  function composite(x: tf.Tensor, bn: BatchNormWeights, alpha?: tf.Tensor1D): tf.Tensor {
    const axes = [...Array(x.rank - 1).keys()];
    const count = x.size / x.shape[x.rank - 1];
    const { mean, variance } = tf.moments(x, axes);
    const m = bn.momentum;
    bn.runningMean.assign(tf.add(tf.mul(bn.runningMean, 1 - m), tf.mul(mean, m)));
    bn.runningVar.assign(
      tf.add(tf.mul(bn.runningVar, 1 - m), tf.mul(tf.mul(variance, count / (count - 1)), m)),
    );
    const y = tf.batchNorm(x, mean, variance, bn.bias, bn.weight, bn.eps);
    return alpha ? tf.prelu(y, alpha) : y;
  }

  for (const shape of [
    [3, 4, 5, 6],
    [5, 7],
  ]) {
    for (const withPrelu of [false, true]) {
      test(`[${shape}]${withPrelu ? ' + PReLU' : ''}: output, running statistics and d x, γ, β${withPrelu ? ', α' : ''} equal the composite's`, () => {
        const random = rng(shape.length * 10 + (withPrelu ? 1 : 0));
        const c = shape[shape.length - 1];
        const vec = (f: () => number) => Float32Array.from({ length: c }, f);
        const size = shape.reduce((a, b) => a * b, 1);
        // Channels with different scales and offsets, so the x̂ terms of dx matter.
        const xData = Float32Array.from(
          { length: size },
          (_, i) => (random() - 0.3) * (1 + (i % c)) + (i % c),
        );
        const gamma = vec(() => 0.5 + random());
        const beta = vec(() => random() - 0.5);
        const alphaData = vec(() => 0.1 + 0.3 * random());
        const runs = [fusedBatchNorm, composite].map((f) => {
          const bn: BatchNormWeights = {
            weight: tf.variable(tf.tensor1d(gamma)),
            bias: tf.variable(tf.tensor1d(beta)),
            runningMean: tf.variable(tf.tensor1d(vec(() => 0.1)), false),
            runningVar: tf.variable(tf.tensor1d(vec(() => 2)), false),
            eps: 1e-5,
            momentum: 0.1,
          };
          const x = tf.variable(tf.tensor(xData, shape));
          const alpha = tf.variable(tf.tensor1d(alphaData));
          const r = tf.tensor(
            Float32Array.from({ length: size }, (_, i) => Math.sin(i * 0.7)),
            shape,
          );
          const vars = [x, bn.weight, bn.bias, ...(withPrelu ? [alpha] : [])];
          let y: tf.Tensor | undefined;
          const { value, grads } = tf.variableGrads(() => {
            const out = f(x, bn, withPrelu ? (alpha as tf.Tensor1D) : undefined);
            y = tf.keep(out.clone());
            return tf.sum(tf.mul(out, r)) as tf.Scalar;
          }, vars);
          const result = {
            y: y!.dataSync(),
            mean: bn.runningMean.dataSync(),
            var: bn.runningVar.dataSync(),
            grads: vars.map((v) => grads[v.name].dataSync()),
          };
          tf.dispose([value, y!, r, x, alpha, bn.weight, bn.bias, bn.runningMean, bn.runningVar]);
          tf.dispose(Object.values(grads));
          return result;
        });
        const [fused, ref] = runs;
        assertClose(fused.y, [...ref.y], 'output');
        assertClose(fused.mean, [...ref.mean], 'running mean');
        assertClose(fused.var, [...ref.var], 'running var');
        const names = ['x', 'γ', 'β', 'α'];
        fused.grads.forEach((g, i) => assertClose(g, [...ref.grads[i]], `d/d ${names[i]}`));
        // Not a vacuous comparison: the PReLU's negative side and dx are both exercised.
        if (withPrelu) assert.ok(fused.y.some((v) => v < 0) && fused.y.some((v) => v > 0));
        assert.ok(fused.grads[0].some((v) => Math.abs(v) > 1e-3));
      });
    }
  }

  test('training step: no tensor left behind, fused or not', () => {
    const bb = createBackbone({ name: 'mobilefacenet', blocks: [1, 1, 1, 1], scale: 1 });
    const x = tf.randomUniform([2, 112, 112, 3], -1, 1, 'float32', 5) as tf.Tensor4D;
    const live = tf.memory().numTensors;
    const { value, grads } = tf.variableGrads(() => tf.sum(bb.apply(x, true)) as tf.Scalar, bb.trainable);
    assert.equal(Object.keys(grads).length, bb.trainable.length);
    tf.dispose([value, ...Object.values(grads)]);
    assert.equal(tf.memory().numTensors, live);
    tf.dispose(bb.apply(x, true));
    assert.equal(tf.memory().numTensors, live);
    x.dispose();
    bb.dispose();
  });
  test('dropout masks follow the trainer seed: same seed, same output; resumed runs and workers repeat them', () => {
    const bb = createBackbone({ name: 'iresnet18', dropout: 0.5, embeddingSize: 8 });
    const x = tf.randomUniform([2, 112, 112, 3], -1, 1, 'float32', 5) as tf.Tensor4D;
    const run = (seed: number) => {
      const y = bb.apply(x, true, seed);
      const v = y.dataSync().slice();
      y.dispose();
      return v;
    };
    const a = run(7);
    assert.deepEqual(run(7), a);
    const b = run(8);
    assert.ok(
      b.some((v, i) => v !== a[i]),
      'another seed draws another mask',
    );
    x.dispose();
    bb.dispose();
  });
});
