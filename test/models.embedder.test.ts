import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rgbImage, type RgbImage } from '../src/image/types.js';
import { Embedder } from '../src/models/embedder.js';
import { validateManifest, type InputSpec, type ModelManifest, type Triple } from '../src/models/manifest.js';
import { resolveModel, type ResolvedModel } from '../src/models/resolve.js';
import { getModel } from '../src/models/zoo.js';
import { rng } from '../src/util/random.js';

const FIX = join(import.meta.dirname, 'fixtures');
const SHARED = join(import.meta.dirname, '../../shared/models/recognizers');

function randomImage(seed: number, w = 4, h = 4): RgbImage {
  const r = rng(seed);
  return rgbImage(
    w,
    h,
    Uint8Array.from({ length: w * h * 3 }, () => Math.floor(r() * 256)),
  );
}

/** Independent of fillInput: walk the tensor in its own order and look the pixel up. */
function tensorOf(img: RgbImage, spec: InputSpec): number[] {
  const { width: w, height: h } = spec;
  const px = (x: number, y: number, rgb: number) => img.data[(y * w + x) * 3 + rgb];
  const chan = (c: number) => (spec.color === 'rgb' ? c : 2 - c);
  const out: number[] = [];
  if (spec.layout === 'nchw') {
    for (let c = 0; c < 3; c++)
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++) out.push((px(x, y, chan(c)) - spec.mean[c]) / spec.std[c]);
  } else {
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++)
        for (let c = 0; c < 3; c++) out.push((px(x, y, chan(c)) - spec.mean[c]) / spec.std[c]);
  }
  return out.map(Math.fround); // the model sees float32
}

function hflip(img: RgbImage): RgbImage {
  const out = rgbImage(img.width, img.height);
  for (let y = 0; y < img.height; y++)
    for (let x = 0; x < img.width; x++)
      for (let c = 0; c < 3; c++)
        out.data[(y * img.width + x) * 3 + c] = img.data[(y * img.width + (img.width - 1 - x)) * 3 + c];
  return out;
}

const l2 = (v: number[]) => {
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
};
const add = (a: number[], b: number[]) => a.map((x, i) => x + b[i]);

function assertClose(got: ArrayLike<number>, want: ArrayLike<number>, tol: number, what: string) {
  assert.equal(got.length, want.length, what);
  for (let i = 0; i < want.length; i++)
    assert.ok(Math.abs(got[i] - want[i]) <= tol, `${what}[${i}]: ${got[i]} vs ${want[i]}`);
}

function tinyManifest(input: Partial<InputSpec>, dim = 48, flip = false): ModelManifest {
  return validateManifest(
    {
      name: 'tiny',
      task: 'recognition',
      file: 'tiny.onnx',
      input: { width: 4, height: 4, layout: 'nchw', color: 'rgb', mean: [0, 0, 0], std: [1, 1, 1], ...input },
      output: { dim },
      flip,
      licence: 'MIT (test)',
      trainingData: 'none',
      researchOnly: false,
    },
    'tiny',
  );
}

test('resolveModel on an .onnx path: shapes from the model, InsightFace defaults, overrides', async () => {
  const a = await resolveModel(join(FIX, 'tiny_nchw.onnx'));
  assert.equal(a.path, join(FIX, 'tiny_nchw.onnx'));
  assert.deepEqual(a.manifest.input, {
    width: 4,
    height: 4,
    layout: 'nchw',
    color: 'rgb',
    mean: [127.5, 127.5, 127.5],
    std: [127.5, 127.5, 127.5],
  });
  assert.equal(a.manifest.output?.dim, 48);
  assert.equal(a.manifest.licence, 'unknown (user-supplied model)');
  const b = await resolveModel(join(FIX, 'tiny_nhwc.onnx'), {
    color: 'bgr',
    mean: [1, 2, 3],
    std: [4, 5, 6],
  });
  assert.deepEqual(b.manifest.input, {
    width: 4,
    height: 4,
    layout: 'nhwc',
    color: 'bgr',
    mean: [1, 2, 3],
    std: [4, 5, 6],
  });
  const c = await resolveModel(join(FIX, 'tiny_dyn.onnx'));
  assert.equal(c.manifest.output?.dim, 48, 'a dynamic output size is found by one run');
  await assert.rejects(resolveModel(join(FIX, 'missing.onnx')), /missing\.onnx: model file not found/);
  const dir = mkdtempSync(join(tmpdir(), 'arcface-emb-'));
  writeFileSync(join(dir, 'junk.onnx'), 'this is not a protobuf');
  await assert.rejects(resolveModel(join(dir, 'junk.onnx')), /junk\.onnx: not a usable ONNX model/);
  writeFileSync(join(dir, 'm.json'), JSON.stringify({ ...tinyManifest({}), file: 'elsewhere.onnx' }));
  await assert.rejects(
    resolveModel(join(dir, 'm.json')),
    /elsewhere\.onnx: model file named by .*m\.json not found/,
  );
  writeFileSync(join(dir, 'bad.json'), '{"name": ');
  await assert.rejects(resolveModel(join(dir, 'bad.json')), /bad\.json: not valid JSON/);
});

test('pre-processing is exact: colour order, mean/std per channel, NCHW and NHWC, flip-sum, L2 norm', async () => {
  const faces = [randomImage(1), randomImage(2), randomImage(3)];
  const mean: Triple = [10, 127.5, 200];
  const std: Triple = [2, 64, 127.5];
  for (const layout of ['nchw', 'nhwc'] as const)
    for (const color of ['rgb', 'bgr'] as const) {
      const manifest = tinyManifest({ layout, color, mean, std });
      const emb = await Embedder.load({ manifest, path: join(FIX, `tiny_${layout}.onnx`) });
      assert.equal(emb.dim, 48);
      const plain = await emb.embed(faces, { flip: false });
      const flipped = await emb.embed(faces, { flip: true, batchSize: 2 });
      faces.forEach((f, i) => {
        const t = tensorOf(f, manifest.input);
        assertClose(plain[i], l2(t), 1e-6, `${layout} ${color} face ${i}`);
        assertClose(
          flipped[i],
          l2(add(t, tensorOf(hflip(f), manifest.input))),
          1e-6,
          `${layout} ${color} flip ${i}`,
        );
        assert.ok(Math.abs(Math.hypot(...plain[i]) - 1) < 1e-6);
      });
      await emb.dispose();
    }
});

test('a model with its batch axis fixed at 1 runs one image at a time (linear map, flip included)', async () => {
  const manifest = tinyManifest({ mean: [127.5, 127.5, 127.5], std: [127.5, 127.5, 127.5] }, 8, true);
  const emb = await Embedder.load({ manifest, path: join(FIX, 'tiny_fixed1.onnx') });
  const W = (i: number, j: number) => (((7 * i + 3 * j) % 11) - 5) / 4; // as make_tiny_onnx.py writes it
  const apply = (t: number[]) =>
    Array.from({ length: 8 }, (_, j) => t.reduce((s, v, i) => s + v * W(i, j), 0));
  const faces = [randomImage(4), randomImage(5), randomImage(6)];
  const got = await emb.embed(faces); // the manifest's flip: true
  faces.forEach((f, i) => {
    const want = l2(add(apply(tensorOf(f, manifest.input)), apply(tensorOf(hflip(f), manifest.input))));
    assertClose(got[i], want, 1e-5, `face ${i}`);
  });
  await emb.dispose();
});

test('errors: output size vs manifest, at load and at the first run; NaN; wrong face size; not a recogniser', async () => {
  const nchw = join(FIX, 'tiny_nchw.onnx');
  await assert.rejects(
    Embedder.load({ manifest: tinyManifest({}, 47), path: nchw }),
    (e: Error) => e.message === `${nchw}: the model outputs 48-d embeddings, the manifest of tiny says 47`,
  );
  await assert.rejects(
    Embedder.load({ manifest: tinyManifest({ width: 8 }), path: nchw }),
    /tiny_nchw\.onnx: the model's input is \[N, 3, 4, 4\], the manifest of tiny says NCHW \[N, 3, 4, 8\]/,
  );
  await assert.rejects(
    Embedder.load({ manifest: tinyManifest({ layout: 'nhwc' }), path: nchw }),
    /says NHWC/,
  );
  const dyn = await Embedder.load({ manifest: tinyManifest({}, 47), path: join(FIX, 'tiny_dyn.onnx') });
  await assert.rejects(
    dyn.embed([randomImage(1)]),
    /tiny_dyn\.onnx: for 1 image\(s\) the model returned float32 \[1, 48\], expected \[1, 47\]/,
  );
  await dyn.dispose();

  const sqrt = await Embedder.load({
    manifest: tinyManifest({ mean: [255, 255, 255] }),
    path: join(FIX, 'tiny_sqrt.onnx'),
  });
  await assert.rejects(
    sqrt.embed([randomImage(1)]),
    /tiny_sqrt\.onnx: the model returned NaN or infinite values for face 0/,
  );
  await sqrt.dispose();
  const ok = await Embedder.load({ manifest: tinyManifest({}), path: join(FIX, 'tiny_sqrt.onnx') });
  const [e] = await ok.embed([randomImage(1)]);
  assertClose(e, l2(tensorOf(randomImage(1), ok.manifest.input).map(Math.sqrt)), 1e-6, 'sqrt');
  await assert.rejects(ok.embed([randomImage(1, 5, 4)]), /face 0 is 5x4; model tiny takes 4x4 aligned crops/);
  await assert.rejects(ok.embed([randomImage(1)], { batchSize: 0 }), /batchSize must be a positive integer/);
  assert.deepEqual(await ok.embed([]), []);
  await ok.dispose();
  await assert.rejects(ok.embed([randomImage(1)]), /used after dispose/);

  const dir = mkdtempSync(join(tmpdir(), 'arcface-emb-'));
  writeFileSync(join(dir, 'junk.onnx'), Buffer.from([1, 2, 3, 4, 5]));
  await assert.rejects(
    Embedder.load({ manifest: tinyManifest({}), path: join(dir, 'junk.onnx') }),
    /junk\.onnx: not a usable ONNX model/,
  );
  await assert.rejects(
    Embedder.load({ manifest: getModel('scrfd-500m'), path: nchw }),
    /is a detection model, not a face recogniser/,
  );
});

/** Smooth, face-sized test crops: real models respond to structure, not to white noise. */
function smoothImage(seed: number): RgbImage {
  const r = rng(seed);
  const [a, b, c, d] = [r(), r(), r(), r()].map((v) => v * 6);
  const img = rgbImage(112, 112);
  for (let y = 0; y < 112; y++)
    for (let x = 0; x < 112; x++)
      for (let ch = 0; ch < 3; ch++)
        img.data[(y * 112 + x) * 3 + ch] = Math.round(
          127.5 +
            100 *
              Math.sin((x / 112) * (a + ch) + (y / 112) * b) *
              Math.cos((x / 112) * c - (y / 112) * d + ch),
        );
  return img;
}

for (const [name, file] of [
  ['mobilefacenet-foamliu', 'mobilefacenet-foamliu/mobilefacenet.onnx'],
  ['mobilefacenet-paddle', 'mobilefacenet-paddle/mobilefacenet.onnx'],
  ['w600k-mbf-int8', 'w600k-mbf-int8/w600k_mbf_int8.onnx'],
] as const) {
  const path = join(SHARED, file);
  test(
    `${name} (../shared): dim as the manifest, unit norm, batch of 5 = 5 singles, flip changes the embedding`,
    { skip: existsSync(path) ? false : `../shared/models/recognizers/${file} is absent` },
    async () => {
      const model: ResolvedModel = { manifest: getModel(name), path };
      const emb = await Embedder.load(model, { threads: 1 });
      assert.equal(emb.dim, getModel(name).output?.dim);
      const faces = [1, 2, 3, 4, 5].map(smoothImage);
      const batch = await emb.embed(faces, { flip: false });
      const singles: Float32Array[] = [];
      for (const f of faces) singles.push((await emb.embed([f], { flip: false }))[0]);
      // Dynamic int8 quantisation picks its activation scale over the whole batch, so there a batch
      // of different faces is only near the singles (cosine 0.98 measured); a batch of one face
      // repeated must still equal its single run. The float models agree to rounding.
      const int8 = name === 'w600k-mbf-int8';
      batch.forEach((e, i) => {
        assert.equal(e.length, emb.dim);
        assert.ok(Math.abs(Math.hypot(...e) - 1) < 1e-5, `unit norm ${i}`);
        if (!int8) assertClose(e, singles[i], 1e-5, `${name} batch vs single ${i}`);
        else {
          const cos = e.reduce((s, v, j) => s + v * singles[i][j], 0);
          assert.ok(cos > 0.95, `${name} batch vs single ${i}: cos ${cos}`);
        }
      });
      if (int8) {
        const same = await emb.embed([faces[3], faces[3], faces[3], faces[3], faces[3]], { flip: false });
        same.forEach((e, i) => assertClose(e, singles[3], 1e-5, `${name} repeated face ${i}`));
      }
      const flipped = await emb.embed(faces, { flip: true });
      flipped.forEach((e, i) => {
        const cos = e.reduce((s, v, j) => s + v * batch[i][j], 0);
        assert.ok(cos < 0.9999 && cos > 0.5, `${name} face ${i}: flip-sum cos ${cos}`);
      });
      await emb.dispose();
    },
  );
}

test(
  'a local-only zoo model placed by hand resolves by name, with its hash checked',
  { skip: existsSync(join(SHARED, 'w600k-mbf-int8')) ? false : '../shared/models/recognizers is absent' },
  async () => {
    const env = { ARCFACE_HOME: mkdtempSync(join(tmpdir(), 'arcface-hand-')) };
    const dir = join(env.ARCFACE_HOME, 'models/w600k-mbf-int8');
    mkdirSync(dir, { recursive: true });
    symlinkSync(join(SHARED, 'w600k-mbf-int8/w600k_mbf_int8.onnx'), join(dir, 'w600k_mbf_int8.onnx'));
    const r = await resolveModel('w600k-mbf-int8', {}, env);
    assert.equal(r.path, join(dir, 'w600k_mbf_int8.onnx'));
    assert.equal(r.manifest.output?.dim, 512);
    const bgr = await resolveModel('w600k-mbf-int8', { color: 'bgr' }, env);
    assert.equal(bgr.manifest.input.color, 'bgr');

    const other = join(env.ARCFACE_HOME, 'models/mobilefacenet-paddle');
    mkdirSync(other, { recursive: true });
    symlinkSync(join(SHARED, 'mobilefacenet-foamliu/mobilefacenet.onnx'), join(other, 'mobilefacenet.onnx'));
    await assert.rejects(
      resolveModel('mobilefacenet-paddle', {}, env),
      /mobilefacenet\.onnx: 3998450 bytes, model mobilefacenet-paddle has 4001322: a partial or different file/,
    );
  },
);
