/**
 * face-api's Node bundle (@vladmandic/face-api), for its own tfjs nets: the reference the ONNX
 * conversions are tested against and the 'tfjs' fallbacks. Its node-wasm bundle requires the
 * CommonJS @tensorflow/tfjs, which must resolve to the tfjs-core module (hence the engine and
 * backend) that runtime/backend.ts starts: checked here, once, for every caller.
 */
import { createRequire } from 'node:module';
import { ArcfaceError } from '../errors.js';
import { initRuntime, tf } from './backend.js';

export type FaceApi = typeof import('@vladmandic/face-api/dist/face-api.node-wasm.js');

const require = createRequire(import.meta.url);

export async function loadFaceApi(): Promise<FaceApi> {
  await initRuntime();
  const api = require('@vladmandic/face-api/dist/face-api.node-wasm.js') as FaceApi;
  if ((api.tf as unknown as typeof tf).engine() !== tf.engine())
    throw new ArcfaceError(
      'BACKEND',
      'face-api loaded a second copy of @tensorflow/tfjs-core; deduplicate it (npm dedupe)',
    );
  return api;
}
