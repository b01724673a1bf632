/**
 * The default engine in Node: an onnxruntime-node session, from an ONNX file or from bytes converted
 * in memory (tfjs weights, src/convert/), checked against the manifest by onnx_session.ts.
 */
import { nodeOrt, openSession, type ModelBytes } from '../../runtime/onnx.js';
import type { ModelManifest } from '../manifest.js';
import { sessionEngine } from './onnx_session.js';
import type { EmbedEngine } from './types.js';

export async function openOnnxEngine(
  model: string | ModelBytes,
  m: ModelManifest,
  opts: { threads?: number } = {},
): Promise<EmbedEngine> {
  const label = typeof model === 'string' ? model : model.name;
  const session = await openSession(model, opts);
  try {
    return sessionEngine(session, nodeOrt, m, label);
  } catch (err) {
    await session.release();
    throw err;
  }
}
