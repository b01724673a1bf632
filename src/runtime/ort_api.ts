/**
 * What the graph-running code needs from onnxruntime, whichever package provides it:
 * onnxruntime-node in Node (runtime/onnx.ts), onnxruntime-web in the browser (browser/ort.ts). Both
 * implement onnxruntime-common's API; only its types are imported here, so this module loads neither.
 */
import type { InferenceSession, Tensor, TensorConstructor } from 'onnxruntime-common';
import { badInput, type ArcfaceError } from '../errors.js';

export type OrtSession = InferenceSession;
export type OrtTensor = Tensor;

/** A model already in memory (e.g. converted from tfjs weights); `name` is for messages. */
export interface ModelBytes {
  bytes: Uint8Array;
  name: string;
}

export interface SessionOptions {
  /** Threads inside one op; default: the runtime's choice (Node: all cores; the browser sets its own). */
  threads?: number;
}

export interface OrtApi {
  /** The package's own Tensor class: a session takes only tensors made by its package. */
  readonly Tensor: TensorConstructor;
  /** A session from ONNX bytes, with notUsable()'s error when they are not a model it can run. */
  open(model: ModelBytes, opts?: SessionOptions): Promise<OrtSession>;
}

/** The error every runtime gives for bytes it cannot open as a model. */
export function notUsable(name: string, err: unknown): ArcfaceError {
  const msg = String((err as Error)?.message ?? err).split('\n')[0];
  return badInput(`${name}: not a usable ONNX model (${msg})`);
}

/** Shape of a named input as declared by the model (strings or -1 for dynamic axes). */
export function inputShape(session: OrtSession, name?: string): readonly (number | string)[] {
  const meta = session.inputMetadata.find((m) => m.name === (name ?? session.inputNames[0]));
  return meta && meta.isTensor ? meta.shape : [];
}
