/**
 * arcface/browser: face recognition on the user's device, to the same numbers as the Node pipeline
 * (served by `arcface serve` at /lib/arcface.js; the models, thresholds and onnxruntime-web's wasm
 * come from the same server).
 *
 *   import { FaceRecognizer } from '/lib/arcface.js';
 *   const rec = await FaceRecognizer.create();
 *   const { same, similarity } = await rec.verify(fileA, fileB); // Files, Blobs, URLs, ImageBitmaps
 */
export { FaceRecognizer, type RecognizerOptions } from './recognizer.js';
export type { BrowserImage } from './decode.js';
export type { Backend } from './ort.js';
export { ArcfaceError, type ArcfaceErrorCode } from '../errors.js';
export {
  NoFaceError,
  type EmbedOptions,
  type FaceEmbedding,
  type NoFacePolicy,
  type Verdict,
  type Verification,
} from '../pipeline/results.js';
export { cosine, angleDegrees } from '../pipeline/similarity.js';
export type { Face, Box, Point, Landmarks5 } from '../face/types.js';
export {
  FaceTracker,
  type Observation,
  type Track,
  type TrackState,
  type TrackerOptions,
} from '../face/tracker.js';
export type { DetectOptions } from '../face/detectors/types.js';
export type { RgbImage } from '../image/types.js';
export type { ModelManifest } from '../models/manifest.js';
