/**
 * Exported backbones: the ONNX model run by onnxruntime gives the tfjs graph's embeddings (1e-4)
 * for MobileFaceNet and IResNet-18 with every weight and BN statistic perturbed, and the package
 * loads through the recognition pipeline's Embedder with its manifest.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBackbone, type BackboneName } from '../src/backbones/index.js';
import { backboneToOnnx, writeModelPackage, ONNX_INPUT, ONNX_OUTPUT } from '../src/export/backbone.js';
import { Embedder } from '../src/models/embedder.js';
import { resolveModel } from '../src/models/resolve.js';
import { initRuntime, tf } from '../src/runtime/backend.js';
import { ort } from '../src/runtime/onnx.js';
import { rng } from '../src/util/random.js';
import { relErr } from './helpers.js';

function perturb(b: ReturnType<typeof createBackbone>, seed: number): void {
  const random = rng(seed);
  for (const [name, v] of b.namedWeights()) {
    const vals = (v.dataSync() as Float32Array).slice();
    for (let i = 0; i < vals.length; i++) {
      const u = random() - 0.5;
      // Keep variances positive and scales near 1 so activations stay in range through deep nets.
      vals[i] = name.endsWith('running_var') ? 0.5 + random() : vals[i]! + u * 0.05;
    }
    tf.tidy(() => v.assign(tf.tensor(vals, v.shape)));
  }
}

for (const name of ['mobilefacenet', 'iresnet18'] as BackboneName[]) {
  test(`${name}: onnxruntime on the exported model = tfjs inference`, async () => {
    await initRuntime();
    const b = createBackbone({ name, seed: 3 });
    try {
      perturb(b, 7);
      const n = 2;
      const random = rng(11);
      const nhwc = Float32Array.from({ length: n * 112 * 112 * 3 }, () => random() * 2 - 1);
      const ref = tf.tidy(
        () => b.apply(tf.tensor4d(nhwc, [n, 112, 112, 3]), false).dataSync() as Float32Array,
      );
      const nchw = new Float32Array(nhwc.length);
      for (let i = 0; i < n; i++)
        for (let y = 0; y < 112; y++)
          for (let x = 0; x < 112; x++)
            for (let c = 0; c < 3; c++)
              nchw[((i * 3 + c) * 112 + y) * 112 + x] = nhwc[((i * 112 + y) * 112 + x) * 3 + c]!;
      const session = await ort.InferenceSession.create(backboneToOnnx(b));
      const out = await session.run({ [ONNX_INPUT]: new ort.Tensor('float32', nchw, [n, 3, 112, 112]) });
      const got = out[ONNX_OUTPUT]!.data as Float32Array;
      assert.deepEqual(out[ONNX_OUTPUT]!.dims, [n, 512]);
      assert.ok(relErr(got, ref) < 1e-4, `relative error ${relErr(got, ref)}`);
      await session.release();
    } finally {
      b.dispose();
    }
  });
}

test('a written package loads through the Embedder with its manifest and licence', async () => {
  await initRuntime();
  const b = createBackbone({ name: 'mobilefacenet', seed: 5 });
  const dir = mkdtempSync(join(tmpdir(), 'arcface-export-'));
  try {
    await writeModelPackage(b, dir, {
      name: 'test-mbf',
      licence: 'MIT (test)',
      trainingData: 'none (random weights)',
      researchOnly: false,
    });
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
    assert.equal(manifest.output.dim, 512);
    const model = await resolveModel(join(dir, 'manifest.json'));
    assert.equal(model.manifest.licence, 'MIT (test)');
    const e = await Embedder.load(model);
    const face = { width: 112, height: 112, data: new Uint8Array(112 * 112 * 3).map((_, i) => i % 251) };
    const [v] = await e.embed([face]);
    assert.equal(v!.length, 512);
    assert.ok(Math.abs(Math.hypot(...v!) - 1) < 1e-5);
    await e.dispose();
  } finally {
    b.dispose();
  }
});
