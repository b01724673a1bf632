/**
 * Pick a detector by a `KIND[:PATH]` spec (CLI `--detector`, config files): `faceapi` needs no
 * file; `yunet:PATH`, `scrfd:PATH`, `retinaface:PATH` open that ONNX model.
 */
import { badInput } from '../../errors.js';
import { openSession } from '../../runtime/onnx.js';
import { FaceApiDetector } from './faceapi.js';
import { FaceApiOnnxDetector, type FaceApiOnnxOptions } from './faceapi_onnx.js';
import { RetinaFaceDetector } from './retinaface.js';
import { ScrfdDetector } from './scrfd.js';
import { fixedInputSize } from './session.js';
import { DETECTOR_KINDS, type Detector, type DetectorKind } from './types.js';
import { YuNetDetector } from './yunet.js';

export * from './types.js';
export { nms, iou, boxArea } from './nms.js';
export { letterbox, letterboxGeometry, toSource, toCanvas, boxToSource, faceToSource } from './letterbox.js';
export type { Letterbox } from './letterbox.js';
export { letterboxBlob, linearTaps, BlobBuffers } from './resize_blob.js';
export type { BlobOptions } from './blob.js';
export { finalizeFaces, resolveOptions } from './postprocess.js';
export { FaceApiDetector, faceApiModelDir } from './faceapi.js';
export { FaceApiOnnxDetector, FACEAPI_DEFAULTS } from './faceapi_onnx.js';
export type { FaceApiOnnxOptions, FacePass } from './faceapi_onnx.js';
export { FaceApiNets } from './faceapi_nets.js';
export { fiveFrom68 } from './faceapi_landmarks.js';
export { YuNetDetector } from './yunet.js';
export { ScrfdDetector } from './scrfd.js';
export { RetinaFaceDetector, retinaPriors } from './retinaface.js';

export const DEFAULT_DETECTOR_KIND: DetectorKind = 'faceapi';

export function parseDetectorSpec(spec: string): { kind: DetectorKind; path?: string } {
  const s = spec.trim();
  if (s === '') return { kind: DEFAULT_DETECTOR_KIND };
  const colon = s.indexOf(':');
  const kind = (colon < 0 ? s : s.slice(0, colon)).toLowerCase();
  const path = colon < 0 ? undefined : s.slice(colon + 1).trim() || undefined;
  if (!DETECTOR_KINDS.includes(kind as DetectorKind))
    throw badInput(
      `detector "${spec}": unknown kind "${kind}" (use ${DETECTOR_KINDS.join(', ')}, ` +
        'with :PATH to the ONNX model for all but faceapi)',
    );
  if (kind === 'faceapi' && path !== undefined)
    throw badInput(
      `detector "${spec}": faceapi uses the weights inside @vladmandic/face-api and takes no path`,
    );
  return path === undefined ? { kind: kind as DetectorKind } : { kind: kind as DetectorKind, path };
}

export interface CreateDetectorOptions {
  /** onnxruntime intra-op threads (ONNX kinds). */
  threads?: number;
  /** Network input side for models with dynamic input (YuNet 2026may, SCRFD, RetinaFace); default 640. */
  inputSize?: number;
  /**
   * faceapi: settings other than the measured default (FACEAPI_DEFAULTS), or 'tfjs' for face-api's
   * own TensorFlow.js path (the old default, ~5x slower; kept for comparison).
   */
  faceapi?: FaceApiOnnxOptions | 'tfjs';
}

/**
 * Open a detector. ONNX kinds need the model path. For YuNet the two published generations are
 * told apart by the model's input: 2023mar declares a fixed 1x3x640x640, 2026may dynamic H x W.
 */
export async function createDetector(
  kind: DetectorKind,
  path?: string,
  opts: CreateDetectorOptions = {},
): Promise<Detector> {
  if (kind === 'faceapi')
    return opts.faceapi === 'tfjs'
      ? FaceApiDetector.open()
      : FaceApiOnnxDetector.open({ threads: opts.threads, ...opts.faceapi });
  if (!DETECTOR_KINDS.includes(kind)) throw badInput(`detector kind "${kind}" is unknown`);
  if (!path) throw badInput(`detector ${kind}: the path of its ONNX model is required (${kind}:PATH)`);
  switch (kind) {
    case 'yunet':
      return YuNetDetector.open(path, opts);
    case 'scrfd':
      return ScrfdDetector.open(path, opts);
    case 'retinaface':
      return RetinaFaceDetector.open(path, opts);
  }
}

/** Whether a YuNet file has a fixed input (2023mar) or a dynamic one (2026may), without keeping it open. */
export async function yunetGeneration(path: string): Promise<'fixed' | 'dynamic'> {
  const session = await openSession(path);
  try {
    return fixedInputSize(session) ? 'fixed' : 'dynamic';
  } finally {
    await session.release();
  }
}
