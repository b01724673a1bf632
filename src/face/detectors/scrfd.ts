/**
 * InsightFace SCRFD with keypoints (det_500m, det_2.5g, det_10g of buffalo_l), following
 * insightface/model_zoo/scrfd.py: RGB, (x - 127.5) / 128, letterboxed top-left into 640x640
 * (or the model's own fixed size: InsightFace ignores det_size then), 9 outputs *by position*:
 * scores, bbox, kps for strides 8/16/32. Two anchors per cell share the centre (c s, r s)
 * (no half-cell offset); distance2bbox: box = centre -/+ d s, distance2kps: point = centre + k s.
 * Outputs may be [N, k] or batched [1, N, k]. Landmarks are already image-left first.
 */
import { badInput } from '../../errors.js';
import type { RgbImage } from '../../image/types.js';
import { openSession, type ort } from '../../runtime/onnx.js';
import type { Face, Landmarks5, Point } from '../types.js';
import type { BlobOptions } from './blob.js';
import { faceToSource, letterboxGeometry } from './letterbox.js';
import { finalizeFaces, resolveOptions } from './postprocess.js';
import { BlobBuffers } from './resize_blob.js';
import { fixedInputSize, modelName, rows, runLetterboxed } from './session.js';
import type { Detector, DetectOptions } from './types.js';

/** scrfd.py's blobFromImage: RGB (swapRB), (x - 127.5) / 128. */
const BLOB: BlobOptions = { order: 'rgb', mean: [127.5, 127.5, 127.5], scale: 1 / 128 };
const STRIDES = [8, 16, 32] as const;
const ANCHORS = 2;

export interface ScrfdOptions {
  /** Square input side for dynamic-input models (InsightFace's det_size); default 640. */
  inputSize?: number;
  threads?: number;
}

export class ScrfdDetector implements Detector {
  readonly kind = 'scrfd' as const;
  readonly defaults = { scoreThreshold: 0.5, nmsIou: 0.4 };
  readonly name: string;
  /** Input blobs reused across detect() calls. */
  private readonly buffers = new BlobBuffers();
  private readonly size: [number, number];

  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly path: string,
    inputSize: number,
  ) {
    this.name = modelName(path);
    this.size = fixedInputSize(session) ?? [inputSize, inputSize];
  }

  static async open(path: string, opts: ScrfdOptions = {}): Promise<ScrfdDetector> {
    const inputSize = opts.inputSize ?? 640;
    if (!(Number.isInteger(inputSize) && inputSize >= 32 && inputSize % 32 === 0))
      throw badInput(`scrfd inputSize: ${inputSize} is not a positive multiple of 32`);
    const session = await openSession(path, { threads: opts.threads });
    const n = session.outputNames.length;
    if (n !== 9) {
      await session.release();
      throw badInput(
        `${path}: not an SCRFD model with keypoints (expected 9 outputs: scores, boxes and ` +
          `keypoints for strides 8/16/32; it has ${n}${n === 6 ? ', a model without keypoints' : ''})`,
      );
    }
    return new ScrfdDetector(session, path, inputSize);
  }

  async detect(img: RgbImage, opts: DetectOptions = {}): Promise<Face[]> {
    const o = resolveOptions(opts, this.defaults);
    const g = letterboxGeometry(img.width, img.height, this.size[0], this.size[1]);
    const out = await runLetterboxed(this.session, this.path, img, g, BLOB, this.buffers);
    const outs = this.session.outputNames.map((name) => out[name]);
    const faces: Face[] = [];
    STRIDES.forEach((s, level) => {
      const cols = Math.floor(g.width / s);
      const n = cols * Math.floor(g.height / s) * ANCHORS;
      const what = (k: string) => `${k} of stride ${s} (output #${level})`;
      const scores = rows(outs[level], n, 1, what('scores'), this.path);
      const bbox = rows(outs[level + 3], n, 4, what('boxes'), this.path);
      const kps = rows(outs[level + 6], n, 10, what('keypoints'), this.path);
      for (let i = 0; i < n; i++) {
        const score = scores[i];
        if (score < o.scoreThreshold) continue;
        const cell = Math.floor(i / ANCHORS);
        const x = (cell % cols) * s;
        const y = Math.floor(cell / cols) * s;
        const b = i * 4;
        const box = {
          x1: x - bbox[b] * s,
          y1: y - bbox[b + 1] * s,
          x2: x + bbox[b + 2] * s,
          y2: y + bbox[b + 3] * s,
        };
        const landmarks = [0, 1, 2, 3, 4].map((k): Point => [
          x + kps[i * 10 + 2 * k] * s,
          y + kps[i * 10 + 2 * k + 1] * s,
        ]) as Landmarks5;
        faces.push(faceToSource(g, { box, score, landmarks }));
      }
    });
    for (const t of Object.values(out)) t.dispose();
    return finalizeFaces(faces, img, o);
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}
