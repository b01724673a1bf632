/**
 * The offline default detector in Node: faceapi_core.ts on onnxruntime-node sessions built from the
 * weights inside @vladmandic/face-api (faceapi_nets.ts), with sharp to shrink photos for
 * `detectMaxSide`.
 */
import { resizeRgb } from '../../image/decode.js';
import { FaceApiDetectorCore, type FaceApiOnnxOptions } from './faceapi_core.js';
import { FaceApiNets } from './faceapi_nets.js';

export {
  FaceApiDetectorCore,
  FACEAPI_DEFAULTS,
  squareOfLandmarks,
  type FaceApiOnnxOptions,
  type FacePass,
  type ResizeRgb,
} from './faceapi_core.js';

export class FaceApiOnnxDetector extends FaceApiDetectorCore {
  /** A detector owning its own sessions. */
  static async open(opts: FaceApiOnnxOptions = {}): Promise<FaceApiOnnxDetector> {
    return new FaceApiOnnxDetector(new FaceApiNets(opts), true, opts, resizeRgb).ready();
  }

  /** A configuration over shared sessions (benchmarks compare many); dispose() leaves them open. */
  static withNets(nets: FaceApiNets, opts: FaceApiOnnxOptions = {}): FaceApiOnnxDetector {
    return new FaceApiOnnxDetector(nets, false, opts, resizeRgb);
  }
}
