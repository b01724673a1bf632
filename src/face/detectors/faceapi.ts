/**
 * face-api's own TensorFlow.js path: its SSD MobileNet V1 face detector and 68-point landmark net
 * (@vladmandic/face-api, MIT; the weights ship inside the npm package, so nothing is downloaded).
 * This was the offline default; the `faceapi` kind now runs the same nets on onnxruntime
 * (faceapi_onnx.ts, ~5x faster, bench/README.md). Kept for comparison: createDetector('faceapi',
 * undefined, { faceapi: 'tfjs' }). The 68 points are kept and reduced to the ArcFace five as there
 * (fiveFrom68).
 *
 * face-api's node-wasm bundle requires the CommonJS @tensorflow/tfjs, which resolves to the same
 * tfjs-core module (hence the same engine and backend) that src/runtime/backend.ts starts; this is
 * checked at load time. The image goes in as an int32 HxWx3 tensor, downscaled first so that
 * a 36 MP photo does not fill the wasm heap (SSD sees 512x512 anyway; landmarks are taken from
 * the downscaled image's face crops, resized by the landmark net to 112x112).
 */
import { ArcfaceError, badInput } from '../../errors.js';
import { resizeRgb } from '../../image/decode.js';
import type { RgbImage } from '../../image/types.js';
import { tf } from '../../runtime/backend.js';
import { loadFaceApi, type FaceApi } from '../../runtime/faceapi.js';
import type { Face, Point } from '../types.js';
import { faceApiModelDir } from './faceapi_dir.js';
import { fiveFrom68 } from './faceapi_landmarks.js';
import { finalizeFaces, resolveOptions } from './postprocess.js';
import type { Detector, DetectOptions } from './types.js';

export { faceApiModelDir };

export interface FaceApiOptions {
  /** Longest side the image is downscaled to before detection; default 1280. */
  maxInputSide?: number;
}

export class FaceApiDetector implements Detector {
  readonly kind = 'faceapi' as const;
  readonly name = 'face-api ssd_mobilenetv1 + landmark68 (tfjs)';
  /** face-api's own: minConfidence 0.5, IoU 0.5 inside SsdMobilenetv1.locateFaces. */
  readonly defaults = { scoreThreshold: 0.5, nmsIou: 0.5 };
  private disposed = false;

  private constructor(
    private readonly api: FaceApi,
    private readonly ssd: InstanceType<FaceApi['SsdMobilenetv1']>,
    private readonly landmarkNet: InstanceType<FaceApi['FaceLandmark68Net']>,
    private readonly maxInputSide: number,
  ) {}

  static async open(opts: FaceApiOptions = {}): Promise<FaceApiDetector> {
    const maxInputSide = opts.maxInputSide ?? 1280;
    if (!(Number.isInteger(maxInputSide) && maxInputSide >= 64))
      throw badInput(`faceapi maxInputSide: ${maxInputSide} is not an integer >= 64`);
    const api = await loadFaceApi();
    const dir = faceApiModelDir();
    const ssd = new api.SsdMobilenetv1();
    const landmarkNet = new api.FaceLandmark68Net();
    try {
      await ssd.loadFromDisk(dir);
      await landmarkNet.loadFromDisk(dir);
    } catch (err) {
      ssd.dispose();
      landmarkNet.dispose();
      throw new ArcfaceError('NOT_FOUND', `${dir}: cannot load face-api weights (${(err as Error).message})`);
    }
    return new FaceApiDetector(api, ssd, landmarkNet, maxInputSide);
  }

  async detect(img: RgbImage, opts: DetectOptions = {}): Promise<Face[]> {
    if (this.disposed) throw new ArcfaceError('BAD_CONFIG', 'faceapi detector used after dispose()');
    const o = resolveOptions(opts, this.defaults);
    const s = Math.min(1, this.maxInputSide / Math.max(img.width, img.height));
    const small =
      s < 1
        ? await resizeRgb(
            img,
            Math.max(1, Math.round(img.width * s)),
            Math.max(1, Math.round(img.height * s)),
          )
        : img;
    const sx = img.width / small.width;
    const sy = img.height / small.height;
    const input = tf.tensor3d(Int32Array.from(small.data), [small.height, small.width, 3], 'int32');
    const faces: Face[] = [];
    try {
      // minConfidence must be in (0, 1) for face-api (0 would silently mean its default 0.5).
      const minConfidence = Math.min(0.999, Math.max(1e-3, o.scoreThreshold));
      const detections = await this.ssd.locateFaces(input as never, { minConfidence, maxResults: 100 });
      for (const det of detections) {
        // The crop face-api's extractFaceTensors would take: box clipped to the image, floored.
        const crop = det.box.clipAtImageBorders(small.width, small.height);
        if (crop.width <= 0 || crop.height <= 0) continue;
        const faceTensor = tf.slice3d(
          input as tf.Tensor3D,
          [crop.y, crop.x, 0],
          [crop.height, crop.width, 3],
        );
        let marks;
        try {
          marks = (await this.landmarkNet.detectLandmarks(faceTensor as never)) as InstanceType<
            FaceApi['FaceLandmarks68']
          >;
        } finally {
          faceTensor.dispose();
        }
        const pts = marks.positions.map((p): Point => [(p.x + crop.x) * sx, (p.y + crop.y) * sy]);
        const b = det.box;
        faces.push({
          box: { x1: b.x * sx, y1: b.y * sy, x2: (b.x + b.width) * sx, y2: (b.y + b.height) * sy },
          score: det.score,
          landmarks: fiveFrom68(pts),
          landmarks68: pts,
        });
      }
    } finally {
      input.dispose();
    }
    return finalizeFaces(faces, img, o);
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.ssd.dispose();
    this.landmarkNet.dispose();
    void this.api;
  }
}
