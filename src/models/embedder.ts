/**
 * The Embedder in Node: embedder_core.ts (pre-processing, batching, flip-sum, normalisation) over
 * an engine opened here: onnxruntime-node by default, for ONNX files and for tfjs weights converted
 * in memory (src/convert/); or, for face-api's dlib ResNet, face-api's own tfjs forward pass
 * (engine 'tfjs').
 */
import { tfjsModelToOnnx } from '../convert/from_tfjs.js';
import { badInput } from '../errors.js';
import { checkRecogniser, EmbedderCore } from './embedder_core.js';
import { openFaceApiEngine } from './engines/faceapi_tfjs.js';
import { openOnnxEngine } from './engines/onnx.js';
import type { EmbedEngine, EngineName } from './engines/types.js';
import type { ResolvedModel } from './resolve.js';

export type { EngineName } from './engines/types.js';
export { EmbedderCore, fillInput, type EmbedOptions, type EmbeddingInfo } from './embedder_core.js';

export interface LoadOptions {
  /** onnxruntime threads inside one op (engine 'onnx'). */
  threads?: number;
  /**
   * 'onnx' (default; bench/recognizer_engines.ts: faster than face-api's tfjs on the wasm backend)
   * or 'tfjs' (face-api's FaceRecognitionNet; tfjs-format dlib-resnet-v1 only).
   */
  engine?: EngineName;
}

export class Embedder extends EmbedderCore {
  static async load(model: ResolvedModel, opts: LoadOptions = {}): Promise<Embedder> {
    const { manifest: m, path } = model;
    checkRecogniser(m, path);
    const engine = opts.engine ?? 'onnx';
    const format = m.format ?? 'onnx';
    let runner: EmbedEngine;
    if (engine === 'tfjs') {
      if (format !== 'tfjs')
        throw badInput(`${path}: engine "tfjs" runs tfjs-format models only; ${m.name} is ${format}`);
      runner = await openFaceApiEngine(path, m);
    } else if (engine === 'onnx') {
      const source =
        format === 'tfjs' ? { bytes: await tfjsModelToOnnx(path, m.architecture!), name: path } : path;
      runner = await openOnnxEngine(source, m, { threads: opts.threads });
    } else throw badInput(`unknown engine "${engine as string}" (use onnx or tfjs)`);
    return new Embedder(m, path, runner);
  }
}
