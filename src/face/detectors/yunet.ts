/**
 * OpenCV Zoo YuNet (face_detection_yunet_2023mar: fixed 1x3x640x640; 2026may: dynamic H x W,
 * multiples of 32). Pre- and post-processing follow cv::FaceDetectorYN
 * (opencv modules/objdetect/src/face_detect.cpp): BGR bytes as float without normalisation, image
 * padded bottom/right to the input, one prior per cell of strides 8/16/32,
 * score = sqrt(clamp01(cls) * clamp01(obj)), cx = (c + b0) s, cy = (r + b1) s, w = exp(b2) s,
 * h = exp(b3) s, landmark k = ((kx + c) s, (ky + r) s), NMS at 0.3.
 *
 * YuNet's landmark order is right eye, left eye, nose, right and left mouth corner of the *person*,
 * i.e. image-left first: already the ArcFace order.
 */
import { badInput } from '../../errors.js';
import type { RgbImage } from '../../image/types.js';
import { openSession, type ort } from '../../runtime/onnx.js';
import type { Face, Landmarks5, Point } from '../types.js';
import type { BlobOptions } from './blob.js';
import { faceToSource, letterboxGeometry, type Letterbox } from './letterbox.js';
import { finalizeFaces, resolveOptions } from './postprocess.js';
import { BlobBuffers } from './resize_blob.js';
import { fixedInputSize, modelName, rows, runLetterboxed } from './session.js';
import type { Detector, DetectOptions } from './types.js';

/** cv::FaceDetectorYN's input: BGR bytes as float, no normalisation. */
const BLOB: BlobOptions = { order: 'bgr', mean: [0, 0, 0], scale: 1 };
const STRIDES = [8, 16, 32] as const;
const OUTPUTS = ['cls', 'obj', 'bbox', 'kps'].flatMap((p) => STRIDES.map((s) => `${p}_${s}`));

export interface YuNetOptions {
  /** Longest side of the network input for dynamic-input models (rounded up to 32); default 640. */
  inputSize?: number;
  threads?: number;
}

export class YuNetDetector implements Detector {
  readonly kind = 'yunet' as const;
  readonly defaults = { scoreThreshold: 0.9, nmsIou: 0.3 };
  readonly name: string;
  /** Input blobs reused across detect() calls. */
  private readonly buffers = new BlobBuffers();
  /** [width, height] of a fixed-input model (2023mar), null for a dynamic one (2026may). */
  readonly fixedSize: [number, number] | null;

  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly path: string,
    private readonly inputSize: number,
  ) {
    this.name = modelName(path);
    this.fixedSize = fixedInputSize(session);
  }

  static async open(path: string, opts: YuNetOptions = {}): Promise<YuNetDetector> {
    const inputSize = opts.inputSize ?? 640;
    if (!(Number.isInteger(inputSize) && inputSize >= 32))
      throw badInput(`yunet inputSize: ${inputSize} is not an integer >= 32`);
    const session = await openSession(path, { threads: opts.threads });
    const missing = OUTPUTS.filter((n) => !session.outputNames.includes(n));
    if (missing.length > 0) {
      await session.release();
      throw badInput(
        `${path}: not a YuNet model (outputs ${missing.join(', ')} are missing; ` +
          `it has ${session.outputNames.join(', ')})`,
      );
    }
    return new YuNetDetector(session, path, inputSize);
  }

  /** The canvas for an image: the fixed input, or the letterboxed size rounded up to 32. */
  geometry(width: number, height: number): Letterbox {
    if (this.fixedSize) return letterboxGeometry(width, height, this.fixedSize[0], this.fixedSize[1]);
    const g = letterboxGeometry(width, height, this.inputSize, this.inputSize);
    return { ...g, width: Math.ceil(g.contentWidth / 32) * 32, height: Math.ceil(g.contentHeight / 32) * 32 };
  }

  async detect(img: RgbImage, opts: DetectOptions = {}): Promise<Face[]> {
    const o = resolveOptions(opts, this.defaults);
    const g = this.geometry(img.width, img.height);
    const out = await runLetterboxed(this.session, this.path, img, g, BLOB, this.buffers);
    const faces: Face[] = [];
    for (const s of STRIDES) {
      const cols = g.width / s;
      const n = cols * (g.height / s);
      const cls = rows(out[`cls_${s}`], n, 1, `cls_${s}`, this.path);
      const obj = rows(out[`obj_${s}`], n, 1, `obj_${s}`, this.path);
      const bbox = rows(out[`bbox_${s}`], n, 4, `bbox_${s}`, this.path);
      const kps = rows(out[`kps_${s}`], n, 10, `kps_${s}`, this.path);
      for (let i = 0; i < n; i++) {
        const score = Math.sqrt(clamp01(cls[i]) * clamp01(obj[i]));
        if (score < o.scoreThreshold) continue;
        const c = i % cols;
        const r = (i - c) / cols;
        const cx = (c + bbox[i * 4]) * s;
        const cy = (r + bbox[i * 4 + 1]) * s;
        const w = Math.exp(bbox[i * 4 + 2]) * s;
        const h = Math.exp(bbox[i * 4 + 3]) * s;
        const landmarks = [0, 1, 2, 3, 4].map((k): Point => [
          (kps[i * 10 + 2 * k] + c) * s,
          (kps[i * 10 + 2 * k + 1] + r) * s,
        ]) as Landmarks5;
        const box = { x1: cx - w / 2, y1: cy - h / 2, x2: cx + w / 2, y2: cy + h / 2 };
        faces.push(faceToSource(g, { box, score, landmarks }));
      }
    }
    for (const t of Object.values(out)) t.dispose();
    return finalizeFaces(faces, img, o);
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}

function clamp01(v: number): number {
  return v < 0 ? 0 : v > 1 ? 1 : v;
}
