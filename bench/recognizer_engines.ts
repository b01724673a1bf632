/**
 * dlib's ResNet recogniser (face-api's weights) on its two engines, faces/s on the same 150x150
 * inputs: the ONNX graph built in memory (src/convert/dlib_resnet.ts) on onnxruntime, with its
 * default threads and with 1, against face-api's own FaceRecognitionNet.forwardInput on the
 * project's tfjs backend (wasm unless ARCFACE_BACKEND says otherwise; it runs on one thread).
 *
 *   node --import tsx bench/recognizer_engines.ts [--rounds 3] [--batch 1,32] [--faces 32]
 *
 * Each round runs `--faces` seeded-noise faces through every engine in turn (in batches of each
 * size), so machine load hits all alike; numbers are medians over rounds after a warm-up. Inputs are
 * prepared outside the timing: a normalised NCHW Float32Array for onnxruntime (what the Embedder's
 * fillInput writes), int32 HxWx3 pixel tensors for face-api (it normalises inside its forward pass,
 * which is timed, as is reading its output back).
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { dlibResnetToOnnx } from '../src/convert/dlib_resnet.js';
import { readTfjsWeights } from '../src/convert/tfjs_weights.js';
import { median } from '../src/face/detectors/evaluate.js';
import { faceApiModelDir } from '../src/face/detectors/index.js';
import { rgbImage, type RgbImage } from '../src/image/types.js';
import { fillInput } from '../src/models/embedder.js';
import { loadFaceApi } from '../src/runtime/faceapi.js';
import { getModel } from '../src/models/zoo.js';
import { initRuntime, tf } from '../src/runtime/backend.js';
import { openSession, ort } from '../src/runtime/onnx.js';
import { rng } from '../src/util/random.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    batch: { type: 'string', default: '1,32' },
    faces: { type: 'string', default: '32' },
  },
});
const rounds = Number(values.rounds);
const faces = Number(values.faces);
const batches = values.batch!.split(',').map(Number);
if (![rounds, faces, ...batches].every((v) => Number.isInteger(v) && v >= 1))
  throw new Error('--rounds, --faces and --batch take positive integers');

const SIZE = 150;
const manifest = getModel('dlib-resnet-v1');
const r = rng(1);
const images: RgbImage[] = Array.from({ length: faces }, () =>
  rgbImage(
    SIZE,
    SIZE,
    Uint8Array.from({ length: SIZE * SIZE * 3 }, () => Math.floor(r() * 256)),
  ),
);

const runtime = await initRuntime();
const dir = faceApiModelDir();
const bytes = dlibResnetToOnnx(await readTfjsWeights(dir, 'face_recognition_model'));
const api = await loadFaceApi();
const net = new api.FaceRecognitionNet();
await net.loadFromDisk(join(dir, 'face_recognition_model-weights_manifest.json'));

type Engine = { name: string; run(from: number, n: number): Promise<void> };

async function onnxEngine(name: string, threads?: number): Promise<Engine> {
  const session = await openSession({ bytes, name: 'dlib-resnet-v1' }, { threads });
  const size = 3 * SIZE * SIZE;
  const input = new Float32Array(faces * size);
  images.forEach((im, i) => fillInput(im, manifest.input, input, i * size));
  return {
    name,
    async run(from, n) {
      const x = new ort.Tensor('float32', input.subarray(from * size, (from + n) * size), [n, 3, SIZE, SIZE]);
      await session.run({ [session.inputNames[0]]: x });
    },
  };
}

const pixels = images.map((im) => tf.tensor3d(im.data, [SIZE, SIZE, 3], 'int32'));
const faceApi: Engine = {
  name: `face-api tfjs (${runtime.backend}${runtime.simd ? ' SIMD' : ''})`,
  async run(from, n) {
    const out = net.forwardInput(new api.NetInput(pixels.slice(from, from + n) as never, true));
    await out.data();
    out.dispose();
  },
};
const engines = [
  await onnxEngine('onnxruntime (default threads)'),
  await onnxEngine('onnxruntime (1 thread)', 1),
  faceApi,
];

/** Seconds to push all faces through `e` in batches of `b`. */
async function pass(e: Engine, b: number): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < faces; i += b) await e.run(i, Math.min(b, faces - i));
  return (performance.now() - t0) / 1000;
}

const times = new Map<string, number[]>();
for (let round = 0; round <= rounds; round++) {
  for (const b of batches)
    for (const e of engines) {
      const s = await pass(e, b);
      if (round > 0) times.set(`${e.name}|${b}`, [...(times.get(`${e.name}|${b}`) ?? []), s]); // round 0 warms up
    }
  if (round > 0) console.error(`round ${round}/${rounds} done`);
}

const rate = (name: string, b: number) => faces / median(times.get(`${name}|${b}`)!);
console.log(
  `dlib-resnet-v1, ${faces} faces of 150x150, medians of ${rounds} rounds; onnxruntime-node ${ort.env.versions.common}, tfjs ${runtime.tfjsVersion}\n`,
);
console.log('| engine | ' + batches.map((b) => `batch ${b}, faces/s`).join(' | ') + ' |');
console.log('| --- | ' + batches.map(() => '---:').join(' | ') + ' |');
for (const e of engines)
  console.log(`| ${e.name} | ${batches.map((b) => rate(e.name, b).toFixed(1)).join(' | ')} |`);
for (const e of engines.slice(0, 2))
  console.log(
    `| ratio ${e.name} / face-api | ${batches.map((b) => `${(rate(e.name, b) / rate(faceApi.name, b)).toFixed(2)}x`).join(' | ')} |`,
  );
tf.dispose(pixels);
net.dispose();
