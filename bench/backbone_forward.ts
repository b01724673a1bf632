/**
 * Forward and forward+backward time of a backbone on the wasm backend, and the largest batch whose
 * training step fits the 4 GiB heap. Each batch runs in its own child process: a heap abort kills
 * the backend for the rest of its process.
 *
 *   node --import tsx bench/backbone_forward.ts [--model mobilefacenet] [--batches 8,16,32] [--steps 3]
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { initRuntime, tf } from '../src/runtime/backend.js';
import { heapInfo } from '../src/runtime/memory.js';
import { createBackbone, type BackboneName } from '../src/backbones/index.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const MODEL = opt('model', 'mobilefacenet') as BackboneName;
const STEPS = Number(opt('steps', '3'));

async function child(batch: number): Promise<void> {
  await initRuntime('wasm');
  const bb = createBackbone({ name: MODEL });
  const x = tf.randomUniform([batch, 112, 112, 3], -1, 1, 'float32', 1) as tf.Tensor4D;
  const time = (f: () => void) => {
    f(); // warm-up
    const t0 = performance.now();
    for (let i = 0; i < STEPS; i++) f();
    return (performance.now() - t0) / STEPS;
  };
  const forward = time(() => tf.dispose(bb.apply(x, false)));
  const step = time(() => {
    const { value, grads } = tf.variableGrads(
      () => tf.mean(tf.square(bb.apply(x, true))) as tf.Scalar,
      bb.trainable,
    );
    tf.dispose([value, ...Object.values(grads)]);
  });
  const heap = heapInfo().heapBytes / 1024 ** 3;
  console.log(JSON.stringify({ batch, forwardMs: forward, stepMs: step, heapGiB: heap }));
}

function parent(): void {
  const batches = opt('batches', '8,16,32').split(',').map(Number);
  console.log(`${MODEL}, 112x112, wasm, ${STEPS} timed steps`);
  for (const batch of batches) {
    const r = spawnSync(
      process.execPath,
      ['--import', 'tsx', fileURLToPath(import.meta.url), ...args, '--child', String(batch)],
      {
        encoding: 'utf8',
      },
    );
    const line = r.stdout
      .trim()
      .split('\n')
      .find((l) => l.startsWith('{'));
    if (r.status === 0 && line) {
      const j = JSON.parse(line);
      console.log(
        `batch ${batch}: forward ${j.forwardMs.toFixed(0)} ms, forward+backward ${j.stepMs.toFixed(0)} ms ` +
          `(${(j.stepMs / batch).toFixed(1)} ms/image), heap ${j.heapGiB.toFixed(2)} GiB`,
      );
    } else {
      // The last short error line: the wasm glue also prints its whole minified source line.
      const why =
        r.stderr
          .split('\n')
          .filter((l) => l.length < 200 && /Error|Aborted|OUT_OF_MEMORY/.test(l) && !/^\s+at /.test(l))
          .pop() ?? `exit ${r.status}`;
      console.log(`batch ${batch}: failed (${why})`);
    }
  }
}

const c = args.indexOf('--child');
if (c >= 0) await child(Number(args[c + 1]));
else parent();
