/**
 * face-api's nets in Node: the ONNX graphs built in memory from the weights inside the installed
 * @vladmandic/face-api (MIT), no file written and nothing downloaded, run on onnxruntime-node. The
 * sessions themselves are faceapi_sessions.ts, shared with the browser build.
 */
import { buildLandmark68 } from '../../convert/faceapi_landmark68.js';
import { buildSsdMobilenetV1 } from '../../convert/faceapi_ssd.js';
import { buildTinyFaceDetector } from '../../convert/faceapi_tiny.js';
import { readTfjsWeights, type TfjsWeight } from '../../convert/tfjs_weights.js';
import { nodeOrt } from '../../runtime/onnx.js';
import { faceApiModelDir } from './faceapi_dir.js';
import { FACEAPI_WEIGHTS, FaceApiSessions, type FaceApiNet } from './faceapi_sessions.js';

export { FaceApiSessions, FACEAPI_WEIGHTS, type FaceApiNet } from './faceapi_sessions.js';

const BUILD: Record<FaceApiNet, (w: Map<string, TfjsWeight>) => Uint8Array> = {
  ssd: buildSsdMobilenetV1,
  tiny: buildTinyFaceDetector,
  landmarks: buildLandmark68,
};

/** Build face-api's `net` as ONNX bytes from the weights in `dir` (default: the installed package). */
export async function faceApiOnnx(net: FaceApiNet, dir = faceApiModelDir()): Promise<Uint8Array> {
  return BUILD[net](await readTfjsWeights(dir, FACEAPI_WEIGHTS[net]));
}

export interface FaceApiNetsOptions {
  /** onnxruntime intra-op threads; default: onnxruntime's choice. */
  threads?: number;
  /** Weights directory; default: the installed @vladmandic/face-api's `model/`. */
  dir?: string;
}

/** The sessions on onnxruntime-node, each graph built from the weights on first use. */
export class FaceApiNets extends FaceApiSessions {
  constructor(opts: FaceApiNetsOptions = {}) {
    super(nodeOrt, (net) => faceApiOnnx(net, opts.dir), { threads: opts.threads });
  }
}
