/**
 * Picks and starts the numeric backend.
 *
 * Order for 'auto': tfjs-node when the user has it installed (never a dependency of ours: its
 * install downloads a binary), else tfjs-backend-wasm with SIMD plus the training kernels this
 * project registers (runtime/kernels), else the pure-JS cpu backend (slow; also the reference
 * the kernel tests compare against). ARCFACE_BACKEND=wasm|cpu|tensorflow overrides 'auto'.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { registerTrainingKernels } from './kernels/index.js';
import { ensureGradients } from './gradients.js';
import { ArcfaceError } from '../errors.js';

export type BackendName = 'wasm' | 'cpu' | 'tensorflow';
export type BackendChoice = BackendName | 'auto';

export interface RuntimeInfo {
  backend: BackendName;
  simd: boolean;
  tfjsVersion: string;
}

let started: Promise<RuntimeInfo> | undefined;
let startedWith: BackendChoice | undefined;

async function tryTfjsNode(): Promise<boolean> {
  try {
    // A string held in a variable keeps bundlers and tsc from resolving an optional package.
    const name = '@tensorflow/tfjs-node';
    await import(name);
    return tf.findBackend('tensorflow') !== null && (await tf.setBackend('tensorflow'));
  } catch {
    return false;
  }
}

async function start(choice: BackendChoice): Promise<RuntimeInfo> {
  const env = process.env.ARCFACE_BACKEND as BackendChoice | undefined;
  const want = choice === 'auto' && env ? env : choice;
  if (!['auto', 'wasm', 'cpu', 'tensorflow'].includes(want)) {
    throw new ArcfaceError('BACKEND', `unknown backend "${want}" (use auto, wasm, cpu or tensorflow)`);
  }
  let backend: BackendName | undefined;
  if (want === 'tensorflow' || want === 'auto') {
    if (await tryTfjsNode()) backend = 'tensorflow';
    else if (want === 'tensorflow') {
      throw new ArcfaceError(
        'BACKEND',
        'backend "tensorflow" needs @tensorflow/tfjs-node, which is not installed',
      );
    }
  }
  if (!backend && (want === 'wasm' || want === 'auto')) {
    registerTrainingKernels();
    if (await tf.setBackend('wasm')) backend = 'wasm';
    else if (want === 'wasm') throw new ArcfaceError('BACKEND', 'the wasm backend failed to start');
  }
  if (!backend) {
    await tf.setBackend('cpu');
    backend = 'cpu';
  }
  await tf.ready();
  await ensureGradients();
  return {
    backend,
    simd: backend === 'wasm' ? Boolean(tf.env().getBool('WASM_HAS_SIMD_SUPPORT')) : false,
    tfjsVersion: tf.version_core,
  };
}

/** Starts the runtime once per process; later calls with the same choice share the first start. */
export function initRuntime(choice: BackendChoice = 'auto'): Promise<RuntimeInfo> {
  if (started && startedWith === choice) return started;
  startedWith = choice;
  started = start(choice);
  return started;
}

export { tf };
