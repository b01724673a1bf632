/**
 * The ONNX writer: a small graph with every op the embedders export (Conv, grouped Conv,
 * BatchNormalization, PRelu, Add, GlobalAveragePool, Flatten, Gemm) runs in onnxruntime and
 * agrees with the same computation in tfjs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeOnnx, type OnnxModel } from '../src/export/onnx.js';
import { ProtoWriter } from '../src/export/protobuf.js';
import { ort } from '../src/runtime/onnx.js';
import { initRuntime, tf } from '../src/runtime/backend.js';
import { relErr, seededUniform } from './helpers.js';

test('protobuf varints: small, multi-byte and negative int64', () => {
  const bytes = (f: (w: ProtoWriter) => void) => {
    const w = new ProtoWriter();
    f(w);
    return [...w.finish()];
  };
  assert.deepEqual(
    bytes((w) => w.int(1, 150)),
    [0x08, 0x96, 0x01],
  ); // the protobuf guide's example
  assert.deepEqual(
    bytes((w) => w.string(2, 'testing')),
    [0x12, 0x07, ...Buffer.from('testing')],
  );
  const neg = bytes((w) => w.int(1, -1));
  assert.equal(neg.length, 11); // tag + 10-byte two's complement
  assert.deepEqual(neg.slice(1), [...Array(9).fill(0xff), 0x01]);
});

test('an exported graph runs in onnxruntime and matches tfjs', async () => {
  await initRuntime();
  const N = 2;
  const C = 4;
  const K = 5;
  // PyTorch / ONNX layouts: conv weight [out, in/groups, kh, kw]
  const w1 = seededUniform(1, C * 3 * 3 * 3);
  const b1 = seededUniform(2, C);
  const dw = seededUniform(3, C * 1 * 3 * 3);
  const gamma = seededUniform(4, C).map((v) => 1 + v * 0.5);
  const beta = seededUniform(5, C);
  const mean = seededUniform(6, C);
  const variance = seededUniform(7, C).map((v) => 1 + Math.abs(v));
  const slope = seededUniform(8, C).map((v) => 0.25 + v * 0.1);
  const fc = seededUniform(9, K * C);
  const fcb = seededUniform(10, K);
  const x = seededUniform(11, N * 3 * 8 * 8);
  const model: OnnxModel = {
    graphName: 'tiny',
    inputs: [{ name: 'input', dims: ['N', 3, 8, 8] }],
    outputs: [{ name: 'embedding', dims: ['N', K] }],
    initializers: [
      { name: 'w1', dims: [C, 3, 3, 3], data: w1 },
      { name: 'b1', dims: [C], data: b1 },
      { name: 'dw', dims: [C, 1, 3, 3], data: dw },
      { name: 'gamma', dims: [C], data: gamma },
      { name: 'beta', dims: [C], data: beta },
      { name: 'mean', dims: [C], data: mean },
      { name: 'var', dims: [C], data: variance },
      { name: 'slope', dims: [C, 1, 1], data: slope },
      { name: 'fc', dims: [K, C], data: fc },
      { name: 'fcb', dims: [K], data: fcb },
    ],
    nodes: [
      {
        op: 'Conv',
        inputs: ['input', 'w1', 'b1'],
        outputs: ['c1'],
        attrs: { kernel_shape: { ints: [3, 3] }, pads: { ints: [1, 1, 1, 1] }, strides: { ints: [2, 2] } },
      },
      {
        op: 'BatchNormalization',
        inputs: ['c1', 'gamma', 'beta', 'mean', 'var'],
        outputs: ['bn'],
        attrs: { epsilon: { float: 1e-5 } },
      },
      { op: 'PRelu', inputs: ['bn', 'slope'], outputs: ['p'] },
      {
        op: 'Conv',
        inputs: ['p', 'dw'],
        outputs: ['d'],
        attrs: { group: { int: C }, kernel_shape: { ints: [3, 3] }, pads: { ints: [1, 1, 1, 1] } },
      },
      { op: 'Add', inputs: ['d', 'p'], outputs: ['r'] },
      { op: 'GlobalAveragePool', inputs: ['r'], outputs: ['g'] },
      { op: 'Flatten', inputs: ['g'], outputs: ['f'], attrs: { axis: { int: 1 } } },
      { op: 'Gemm', inputs: ['f', 'fc', 'fcb'], outputs: ['embedding'], attrs: { transB: { int: 1 } } },
    ],
    metadata: { arcface: 'test' },
  };
  const bytes = encodeOnnx(model);
  const session = await ort.InferenceSession.create(bytes);
  const out = await session.run({ input: new ort.Tensor('float32', x, [N, 3, 8, 8]) });
  const got = out.embedding!.data as Float32Array;
  assert.deepEqual(out.embedding!.dims, [N, K]);

  const ref = tf.tidy(() => {
    const xin = tf.transpose(tf.tensor4d(x, [N, 3, 8, 8]), [0, 2, 3, 1]) as tf.Tensor4D;
    const k1 = tf.transpose(tf.tensor4d(w1, [C, 3, 3, 3]), [2, 3, 1, 0]) as tf.Tensor4D;
    const pad: [[number, number], [number, number], [number, number], [number, number]] = [
      [0, 0],
      [1, 1],
      [1, 1],
      [0, 0],
    ];
    let h = tf.add(tf.conv2d(xin, k1, 2, pad), tf.tensor1d(b1)) as tf.Tensor4D;
    h = tf.batchNorm(
      h,
      tf.tensor1d(mean),
      tf.tensor1d(variance),
      tf.tensor1d(beta),
      tf.tensor1d(gamma),
      1e-5,
    );
    h = tf.prelu(h, tf.tensor1d(slope) as unknown as tf.Tensor4D); // broadcasts over channels
    const kd = tf.transpose(tf.tensor4d(dw, [C, 1, 3, 3]), [2, 3, 0, 1]) as tf.Tensor4D; // [kh, kw, C, 1]
    const d = tf.depthwiseConv2d(h, kd, 1, 'same');
    const g = tf.mean(tf.add(d, h), [1, 2]) as tf.Tensor2D;
    return tf
      .add(tf.matMul(g, tf.tensor2d(fc, [K, C]), false, true), tf.tensor1d(fcb))
      .dataSync() as Float32Array;
  });
  assert.ok(relErr(got, ref) < 1e-5, `onnxruntime vs tfjs: ${relErr(got, ref)}`);
  await session.release();
});

test('initialiser size mismatches are refused with the tensor named', () => {
  assert.throws(
    () =>
      encodeOnnx({
        graphName: 'bad',
        inputs: [],
        outputs: [],
        nodes: [],
        initializers: [{ name: 'w', dims: [2, 3], data: new Float32Array(5) }],
      }),
    /initialiser w: dims \[2,3\] hold 6 values, data has 5/,
  );
});
