/**
 * onnxruntime-node sessions with errors a user can act on. Every ONNX model (detectors,
 * recognisers) is opened here, so "not an ONNX file" reads the same everywhere.
 */
import { stat } from 'node:fs/promises';
// First: sets ORT_DISABLE_TELEMETRY before onnxruntime loads (ESM evaluates imports in order).
import './no_telemetry.js';
import * as ort from 'onnxruntime-node';
import { ArcfaceError, badInput } from '../errors.js';
import { notUsable, type ModelBytes, type OrtApi, type SessionOptions } from './ort_api.js';

export { ort };
export { inputShape, type ModelBytes, type SessionOptions } from './ort_api.js';

/** A session from an ONNX file's path or from its bytes, with the same options and errors. */
export async function openSession(
  model: string | ModelBytes,
  opts: SessionOptions = {},
): Promise<ort.InferenceSession> {
  const name = typeof model === 'string' ? model : model.name;
  let size: number;
  if (typeof model === 'string') {
    try {
      const st = await stat(model);
      if (!st.isFile()) throw badInput(`${name}: not a file`);
      size = st.size;
    } catch (err) {
      if (err instanceof ArcfaceError) throw err;
      throw new ArcfaceError('NOT_FOUND', `${name}: model file not found`);
    }
  } else size = model.bytes.byteLength;
  if (size === 0)
    throw badInput(`${name}: model ${typeof model === 'string' ? 'file ' : ''}is empty (0 bytes)`);
  const options: ort.InferenceSession.SessionOptions = {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    // Errors only: a batch axis declared as 1 in an export's output makes onnxruntime warn on
    // every larger batch though the result is right (InsightFace's w600k_mbf does this).
    logSeverityLevel: 3,
    // The pipeline alternates two sessions (detector, recogniser) and sharp's decoder on few
    // cores: idle onnxruntime threads that spin steal the CPU the next stage needs
    // (bench/pipeline.ts: 2x throughput on a loaded 2-core machine, no loss on a quiet one).
    extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
    ...(opts.threads ? { intraOpNumThreads: opts.threads, interOpNumThreads: 1 } : {}),
  };
  try {
    return typeof model === 'string'
      ? await ort.InferenceSession.create(model, options)
      : await ort.InferenceSession.create(model.bytes, options);
  } catch (err) {
    throw notUsable(name, err);
  }
}

/** onnxruntime-node behind the interface the shared graph-running code takes (ort_api.ts). */
export const nodeOrt: OrtApi = { Tensor: ort.Tensor, open: (model, opts) => openSession(model, opts) };
