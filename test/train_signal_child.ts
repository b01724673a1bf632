/**
 * Child process for test/train.signal.test.ts: trains a tiny model on batches that are always
 * ready (no I/O between steps, as a prefetching loader gives them) for many steps, with the
 * trainer's own SIGINT / SIGTERM handling; prints "step N" per step and the result as JSON.
 *   node --import tsx test/train_signal_child.ts RUN_DIR
 */
import { initRuntime, tf } from '../src/runtime/backend.js';
import { MarginHead, arcFace } from '../src/losses/index.js';
import { parseTrainConfig } from '../src/train/config.js';
import { train } from '../src/train/trainer.js';
import type { BatchSource, TrainableModel } from '../src/train/types.js';

await initRuntime('cpu');
const w = tf.variable(tf.randomNormal([4, 8], 0, 0.5, 'float32', 1), true);
const model: TrainableModel = {
  trainable: [w],
  namedWeights: () => new Map([['w', w]]),
  apply: (x) => tf.tidy(() => tf.matMul(tf.reshape(x, [x.shape[0], 4]) as tf.Tensor2D, w as tf.Tensor2D)),
};
const head = new MarginHead({ numClasses: 3, embeddingSize: 8, loss: arcFace({ s: 8 }), seed: 2 });
const images = Float32Array.from({ length: 6 * 4 }, (_, i) => ((i * 7) % 5) / 5);
const labels = Int32Array.from({ length: 6 }, (_, i) => i % 3);
const data: BatchSource = {
  batchesPerEpoch: 1000,
  imageShape: [2, 2, 1],
  async *epoch(_e, opts) {
    for (let i = opts?.fromBatch ?? 0; i < 1000; i++) yield { images, labels };
  },
};
const config = parseTrainConfig(
  {
    backbone: 'tiny',
    embeddingSize: 8,
    batchSize: 6,
    steps: 1_000_000,
    lr: 0.01,
    checkpointEvery: 0,
    validateEvery: 0,
    logEvery: 1000,
    data: { train: 'x' },
  },
  'child',
);
const result = await train({
  config,
  runDir: process.argv[2]!,
  model,
  head,
  data,
  onProgress: (p) => {
    // Slow enough steps that a signal lands mid-run, as with a real backbone.
    const until = Date.now() + 20;
    while (Date.now() < until);
    if (p.step <= 3 || p.step % 50 === 0) process.stdout.write(`step ${p.step}\n`);
  },
});
process.stdout.write(
  `${JSON.stringify({ stopped: result.stopped, step: result.step, checkpoint: result.checkpoint })}\n`,
);
