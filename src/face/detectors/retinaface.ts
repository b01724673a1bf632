/**
 * Pytorch_Retinaface (biubug6) MobileNet-0.25, ONNX export: BGR minus (104, 117, 123), fixed
 * 640x640 input (letterboxed bottom/right here). Priors as layers/functions/prior_box.py: for
 * steps 8/16/32 with min sizes [16, 32], [64, 128], [256, 512], row-major cells, both sizes per
 * cell, centre ((j + 0.5) step, (i + 0.5) step), no clipping. Decoding as utils/box_utils.py
 * decode/decode_landm with variances (0.1, 0.2): centre = prior + loc * 0.1 * prior size,
 * size = prior size * exp(loc * 0.2), landmark = prior + l * 0.1 * prior size.
 * Landmarks come in the WIDER FACE annotation order, image-left first.
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

/** Pytorch_Retinaface's detect.py: BGR minus (104, 117, 123), no scaling. */
const BLOB: BlobOptions = { order: 'bgr', mean: [104, 117, 123], scale: 1 };
const STEPS = [8, 16, 32] as const;
const MIN_SIZES = [
  [16, 32],
  [64, 128],
  [256, 512],
] as const;
const VARIANCE = [0.1, 0.2] as const;

/** Priors in canvas pixels: cx, cy, w, h per row. */
export function retinaPriors(width: number, height: number): Float32Array {
  const out: number[] = [];
  STEPS.forEach((step, k) => {
    const fh = Math.ceil(height / step);
    const fw = Math.ceil(width / step);
    for (let i = 0; i < fh; i++)
      for (let j = 0; j < fw; j++)
        for (const m of MIN_SIZES[k]) out.push((j + 0.5) * step, (i + 0.5) * step, m, m);
  });
  return Float32Array.from(out);
}

export interface RetinaFaceOptions {
  /** Square input side for a dynamic-input export; default 640. */
  inputSize?: number;
  threads?: number;
}

export class RetinaFaceDetector implements Detector {
  readonly kind = 'retinaface' as const;
  readonly defaults = { scoreThreshold: 0.6, nmsIou: 0.4 };
  readonly name: string;
  /** Input blobs reused across detect() calls. */
  private readonly buffers = new BlobBuffers();
  private readonly size: [number, number];
  private readonly priors: Float32Array;
  /** Output names by role, found by their last dimension (4, 2, 10). */
  private readonly outs: { loc: string; conf: string; landm: string };

  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly path: string,
    inputSize: number,
    outs: { loc: string; conf: string; landm: string },
  ) {
    this.name = modelName(path);
    this.size = fixedInputSize(session) ?? [inputSize, inputSize];
    this.priors = retinaPriors(this.size[0], this.size[1]);
    this.outs = outs;
  }

  static async open(path: string, opts: RetinaFaceOptions = {}): Promise<RetinaFaceDetector> {
    const inputSize = opts.inputSize ?? 640;
    if (!(Number.isInteger(inputSize) && inputSize >= 32 && inputSize % 32 === 0))
      throw badInput(`retinaface inputSize: ${inputSize} is not a positive multiple of 32`);
    const session = await openSession(path, { threads: opts.threads });
    const byLast = (k: number) =>
      session.outputMetadata
        .filter((m) => m.isTensor && m.shape[m.shape.length - 1] === k)
        .map((m) => m.name);
    const [loc, conf, landm] = [byLast(4), byLast(2), byLast(10)];
    if (session.outputNames.length !== 3 || loc.length !== 1 || conf.length !== 1 || landm.length !== 1) {
      const shapes = session.outputMetadata.map((m) => `${m.name} [${m.isTensor ? m.shape.join(',') : '?'}]`);
      await session.release();
      throw badInput(
        `${path}: not a RetinaFace model (expected 3 outputs: boxes [1,N,4], scores [1,N,2], ` +
          `landmarks [1,N,10]; it has ${shapes.join(', ')})`,
      );
    }
    return new RetinaFaceDetector(session, path, inputSize, { loc: loc[0], conf: conf[0], landm: landm[0] });
  }

  async detect(img: RgbImage, opts: DetectOptions = {}): Promise<Face[]> {
    const o = resolveOptions(opts, this.defaults);
    const g = letterboxGeometry(img.width, img.height, this.size[0], this.size[1]);
    const out = await runLetterboxed(this.session, this.path, img, g, BLOB, this.buffers);
    const p = this.priors;
    const n = p.length / 4;
    const loc = rows(out[this.outs.loc], n, 4, this.outs.loc, this.path);
    const conf = rows(out[this.outs.conf], n, 2, this.outs.conf, this.path);
    const landm = rows(out[this.outs.landm], n, 10, this.outs.landm, this.path);
    const faces: Face[] = [];
    for (let i = 0; i < n; i++) {
      const score = faceProbability(conf[2 * i], conf[2 * i + 1]);
      if (score < o.scoreThreshold) continue;
      const [px, py, pw, ph] = [p[4 * i], p[4 * i + 1], p[4 * i + 2], p[4 * i + 3]];
      const cx = px + loc[4 * i] * VARIANCE[0] * pw;
      const cy = py + loc[4 * i + 1] * VARIANCE[0] * ph;
      const w = pw * Math.exp(loc[4 * i + 2] * VARIANCE[1]);
      const h = ph * Math.exp(loc[4 * i + 3] * VARIANCE[1]);
      const landmarks = [0, 1, 2, 3, 4].map((k): Point => [
        px + landm[10 * i + 2 * k] * VARIANCE[0] * pw,
        py + landm[10 * i + 2 * k + 1] * VARIANCE[0] * ph,
      ]) as Landmarks5;
      const box = { x1: cx - w / 2, y1: cy - h / 2, x2: cx + w / 2, y2: cy + h / 2 };
      faces.push(faceToSource(g, { box, score, landmarks }));
    }
    for (const t of Object.values(out)) t.dispose();
    return finalizeFaces(faces, img, o);
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}

/** The export applies softmax in the graph; exports without it give logits, softmaxed here. */
function faceProbability(bg: number, face: number): number {
  if (bg >= 0 && face >= 0 && Math.abs(bg + face - 1) < 1e-3) return face;
  return 1 / (1 + Math.exp(bg - face));
}
