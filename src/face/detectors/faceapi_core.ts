/**
 * The offline default detector: face-api's nets (@vladmandic/face-api, MIT weights, nothing
 * downloaded) on onnxruntime instead of TensorFlow.js. This module runs on any onnxruntime (the
 * sessions are injected, faceapi_sessions.ts) and holds no Node import: the browser build runs this
 * very code; faceapi_onnx.ts adds the Node sessions. A face pass (the SSD MobileNet V1 or the
 * tiny face detector) finds boxes; face-api's 68-point net places landmarks on face-api's crop of
 * each box and, by default, a second time on a square re-centred on the first points; the 68
 * points are kept (`landmarks68`) and reduced to the ArcFace five.
 *
 * Passes after the first run only when the ones before found nothing (a fallback). `pad` puts the
 * photo on a canvas `pad` times its size (black around, centred): the SSD's WIDER FACE training
 * saw few faces filling the frame, and close-ups are mostly face.
 *
 * The default (FACEAPI_DEFAULTS) was chosen on bench/detect_quality.ts (bench/README.md): the SSD
 * at score 0.3 (face-api's 0.5 misses 2 of the 46 annotated faces and 2.2% of the 4,809 CelebA
 * photos; 0.3 none and 0.6%, with no false positive; 0.2 adds four), then, only when it finds
 * nothing, the SSD on a canvas padded 2x (8 of those 28 CelebA misses stay), and the second landmark
 * pass (side 1.5x the points' extent: 3-6% closer to YuNet's points). The tiny detector is 1.5-6x
 * faster but misses small faces in group photos and 3-10% of the CelebA photos.
 */
import { ArcfaceError, badInput } from '../../errors.js';
import { SSD_INPUT_SIZE } from '../../convert/faceapi_ssd.js';
import { TINY_ANCHORS, TINY_STRIDE } from '../../convert/faceapi_tiny.js';
import type { RgbImage } from '../../image/types.js';
import type { Box, Face, Landmarks5, Point } from '../types.js';
import { faceApiSquare, fiveFrom68, landmarks68, squareOfBox, type Square } from './faceapi_landmarks.js';
import type { FaceApiSessions } from './faceapi_sessions.js';
import { finalizeFaces, resolveOptions } from './postprocess.js';
import { sampleRegion, type Region } from './faceapi_sample.js';
import type { Detector, DetectOptions } from './types.js';

export interface FacePass {
  net: 'ssd' | 'tiny';
  /** Canvas side / photo's longest side (>= 1); 1 = face-api's layout (photo top-left, black right/bottom). */
  pad?: number;
  /** Tiny detector: longest canvas side, a multiple of 32 (face-api's default 416). SSD: always 512. */
  size?: number;
}

/** Resizes a photo (Node: sharp, image/decode.ts); needed only with `detectMaxSide`. */
export type ResizeRgb = (img: RgbImage, width: number, height: number) => Promise<RgbImage>;

/** Settings of the Node sessions (faceapi_nets.ts), accepted and ignored by the core. */
interface SessionSettings {
  threads?: number;
  dir?: string;
}

export interface FaceApiOnnxOptions extends SessionSettings {
  /** Face passes, each run only when all before it found nothing. */
  passes?: FacePass[];
  /** 2 = a second landmark pass on a square re-centred on the first pass's points. */
  landmarkPasses?: 1 | 2;
  /** Photos larger than this (longest side) are downscaled (sharp, antialiased) for the face pass. */
  detectMaxSide?: number;
  /** Default score threshold (DetectOptions.scoreThreshold overrides it per call). */
  scoreThreshold?: number;
  /**
   * The first landmark crop: context false = face-api's (the box alone on black, faceApiSquare);
   * true = the box's square showing the photo around it, scaled about its centre by `scale` and
   * moved down by `dy` x its side.
   */
  crop?: { context: boolean; scale: number; dy: number };
  /** The second landmark pass's square from the first pass's points (squareOfLandmarks). */
  refine?: { side: number; dy: number };
  /** As canvasSamples, for the landmark crops (1 = face-api's resize). */
  cropSamples?: number;
  /** Averaged samples per canvas pixel (per axis) when a photo is reduced 2x or more; 1 = face-api's aliasing resize. */
  canvasSamples?: number;
}

/** The measured default (bench/README.md, "face-api on onnxruntime"). */
export const FACEAPI_DEFAULTS: Required<Omit<FaceApiOnnxOptions, keyof SessionSettings>> = {
  passes: [{ net: 'ssd' }, { net: 'ssd', pad: 2 }],
  landmarkPasses: 2,
  detectMaxSide: 0,
  scoreThreshold: 0.3,
  canvasSamples: 1,
  cropSamples: 1,
  crop: { context: false, scale: 1, dy: 0 },
  refine: { side: 1.5, dy: 0 },
};

/** A net's canvas: its size and the photo region it shows (`scale` photo pixels per canvas pixel). */
interface Placement {
  width: number;
  height: number;
  region: Region;
  scale: number;
}

/**
 * The photo on a pass's canvas, as face-api lays it out: pad 1 puts it top-left with black right
 * or below (padToSquare); pad > 1 centres it in a canvas pad times its longest side. The SSD's
 * canvas is 512 x 512; the tiny net's longest side is `size` and the other is rounded up to 32
 * rather than padded to a square (it is fully convolutional).
 */
function place(w: number, h: number, pass: FacePass): Placement {
  const pad = pass.pad ?? 1;
  const side = pass.net === 'ssd' ? SSD_INPUT_SIZE : (pass.size ?? 416);
  const scale = (pad * Math.max(w, h)) / side;
  const up = (v: number) => Math.min(side, Math.ceil((pad * v) / scale / TINY_STRIDE) * TINY_STRIDE);
  const width = pass.net === 'ssd' ? side : up(w);
  const height = pass.net === 'ssd' ? side : up(h);
  const centre = pad > 1;
  const region = {
    x: centre ? (w - width * scale) / 2 : 0,
    y: centre ? (h - height * scale) / 2 : 0,
    width: width * scale,
    height: height * scale,
  };
  return { width, height, region, scale };
}

export class FaceApiDetectorCore implements Detector {
  readonly kind = 'faceapi' as const;
  readonly name: string;
  readonly defaults: Detector['defaults'];
  private readonly cfg: Required<Omit<FaceApiOnnxOptions, keyof SessionSettings>>;
  private disposed = false;

  protected constructor(
    private readonly nets: FaceApiSessions,
    private readonly ownsNets: boolean,
    opts: FaceApiOnnxOptions,
    private readonly resize?: ResizeRgb,
  ) {
    const given = Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined));
    this.cfg = { ...FACEAPI_DEFAULTS, ...given } as typeof this.cfg;
    const { passes, landmarkPasses, detectMaxSide, scoreThreshold, canvasSamples, cropSamples } = this.cfg;
    if (!Array.isArray(passes) || passes.length === 0)
      throw badInput('faceapi passes: at least one is needed');
    for (const p of passes) {
      if (p.net !== 'ssd' && p.net !== 'tiny')
        throw badInput(`faceapi pass net: "${p.net}" is not ssd or tiny`);
      if (p.pad !== undefined && !(p.pad >= 1 && p.pad <= 4))
        throw badInput(`faceapi pass pad: ${p.pad} is not in [1, 4]`);
      if (p.size !== undefined && !(Number.isInteger(p.size) && p.size >= 64 && p.size % 32 === 0))
        throw badInput(`faceapi pass size: ${p.size} is not a multiple of 32 >= 64`);
    }
    const { crop, refine } = this.cfg;
    if (!(crop.scale > 0 && Number.isFinite(crop.dy) && refine.side > 0 && Number.isFinite(refine.dy)))
      throw badInput('faceapi crop / refine: scale and side must be > 0, dy finite');
    if (landmarkPasses !== 1 && landmarkPasses !== 2)
      throw badInput(`faceapi landmarkPasses: ${landmarkPasses} is not 1 or 2`);
    for (const [k, v] of Object.entries({ canvasSamples, cropSamples }))
      if (!(Number.isInteger(v) && v >= 1 && v <= 8))
        throw badInput(`faceapi ${k}: ${v} is not an integer in [1, 8]`);
    if (!(scoreThreshold >= 0 && scoreThreshold <= 1))
      throw badInput(`faceapi scoreThreshold: ${scoreThreshold} is not in [0, 1]`);
    if (!(detectMaxSide === 0 || (Number.isInteger(detectMaxSide) && detectMaxSide >= 64)))
      throw badInput(`faceapi detectMaxSide: ${detectMaxSide} is not 0 (off) or an integer >= 64`);
    if (detectMaxSide > 0 && !resize)
      throw badInput('faceapi detectMaxSide: this build cannot resize a photo (Node only); leave it at 0');
    // face-api's own thresholds: SSD minConfidence 0.5 and IoU 0.5; tiny 0.5 and IoU 0.4.
    this.defaults = { scoreThreshold, nmsIou: passes[0].net === 'ssd' ? 0.5 : 0.4 };
    const describe = (p: FacePass) =>
      (p.net === 'ssd' ? 'ssd_mobilenetv1' : `tiny_face_detector@${p.size ?? 416}`) +
      ((p.pad ?? 1) > 1 ? ` pad ${p.pad}` : '');
    this.name =
      `face-api ${describe(passes[0])}` +
      (passes.length > 1 ? ` (fallback ${passes.slice(1).map(describe).join(', ')})` : '') +
      ` + landmark68${landmarkPasses === 2 ? ' x2' : ''} (onnxruntime)`;
  }

  /** A detector owning `nets` (e.g. onnxruntime-web's, in the browser). */
  static async openOn(nets: FaceApiSessions, opts: FaceApiOnnxOptions = {}): Promise<FaceApiDetectorCore> {
    return new FaceApiDetectorCore(nets, true, opts).ready();
  }

  /** Builds what every call needs now, so a broken install fails here and not on the first photo. */
  protected async ready(): Promise<this> {
    try {
      await this.nets.session(this.cfg.passes[0].net);
      await this.nets.session('landmarks');
    } catch (err) {
      if (this.ownsNets) await this.nets.release();
      throw err;
    }
    return this;
  }

  async detect(img: RgbImage, opts: DetectOptions = {}): Promise<Face[]> {
    const found = await this.boxes(img, opts);
    const points = await this.landmarks(
      img,
      found.map((f) => f.box),
    );
    return found.map((f, i) => ({ box: f.box, score: f.score, ...points[i] }));
  }

  /**
   * The face passes alone: boxes and scores after NMS and `opts`, each face's landmarks still at its
   * box centre. detect() = boxes() then landmarks() on them; the recognition pipeline places the
   * landmarks of a large photo's small faces from its own pixels instead (pipeline/scaled_faces.ts).
   */
  async boxes(img: RgbImage, opts: DetectOptions = {}): Promise<Face[]> {
    if (this.disposed) throw new ArcfaceError('BAD_CONFIG', 'faceapi detector used after dispose()');
    const { width, height, data } = img ?? {};
    if (!(Number.isInteger(width) && Number.isInteger(height) && width >= 1 && height >= 1))
      throw badInput(`faceapi detect: image size ${width}x${height} is not a positive integer size`);
    if (!(data instanceof Uint8Array) || data.length !== width * height * 3)
      throw badInput(
        `faceapi detect: image data has ${data?.length} bytes, ${width}x${height} RGB needs ${width * height * 3}`,
      );
    const o = resolveOptions(opts, this.defaults);
    const { detectMaxSide, passes } = this.cfg;
    const big = detectMaxSide > 0 && Math.max(img.width, img.height) > detectMaxSide;
    const k = big ? detectMaxSide / Math.max(img.width, img.height) : 1;
    const small =
      big && this.resize
        ? await this.resize(
            img,
            Math.max(1, Math.round(img.width * k)),
            Math.max(1, Math.round(img.height * k)),
          )
        : img;
    let found: Face[] = [];
    for (const pass of passes) {
      const raw = await this.facePass(small, pass, o.scoreThreshold);
      const back =
        small === img
          ? raw
          : raw.map((f) => scaleFace(f, img.width / small.width, img.height / small.height));
      // NMS at this pass's IoU: face-api's tiny detector suppresses at 0.4, the SSD at 0.5.
      found = finalizeFaces(
        back,
        img,
        opts.nmsIou === undefined ? { ...o, nmsIou: pass.net === 'ssd' ? 0.5 : 0.4 } : o,
      );
      if (found.length > 0) break;
    }
    return found;
  }

  /** The landmark passes alone, for boxes in `img`'s pixels. */
  async landmarks(
    img: RgbImage,
    boxes: readonly Box[],
  ): Promise<{ landmarks: Landmarks5; landmarks68: Point[] }[]> {
    if (this.disposed) throw new ArcfaceError('BAD_CONFIG', 'faceapi detector used after dispose()');
    const { crop, landmarkPasses } = this.cfg;
    let squares = boxes.map((b) =>
      crop.context ? adjust(squareOfBox(b), crop) : faceApiSquare(b, img.width, img.height),
    );
    let points = await landmarks68(this.nets, img, squares, this.cfg.cropSamples);
    if (landmarkPasses === 2) {
      squares = points.map((p) => squareOfLandmarks(p, this.cfg.refine));
      points = await landmarks68(this.nets, img, squares, this.cfg.cropSamples);
    }
    return points.map((p) => ({ landmarks: fiveFrom68(p), landmarks68: p }));
  }

  /** One face pass: boxes above `threshold` in `img`'s pixels, before NMS. */
  private async facePass(img: RgbImage, pass: FacePass, threshold: number): Promise<Face[]> {
    const p = place(img.width, img.height, pass);
    const blob = new Float32Array(3 * p.width * p.height);
    sampleRegion(img, p.region, p.width, p.height, blob, { maxSamples: this.cfg.canvasSamples });
    const toImage = (x: number, y: number): Point => [p.region.x + x * p.scale, p.region.y + y * p.scale];
    const face = (x1: number, y1: number, x2: number, y2: number, score: number): Face => {
      const [a, b] = [toImage(x1, y1), toImage(x2, y2)];
      const c: Point = [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2];
      return {
        box: { x1: a[0], y1: a[1], x2: b[0], y2: b[1] },
        score,
        landmarks: [c, c, c, c, c] as Landmarks5,
      };
    };
    const faces: Face[] = [];
    if (pass.net === 'ssd') {
      const { boxes, scores } = await this.nets.ssd(blob);
      const s = SSD_INPUT_SIZE;
      for (let i = 0; i < scores.length; i++) {
        if (!(scores[i] >= threshold)) continue;
        // face-api clips the relative box to the canvas (locateFaces)
        const [y0, x0, y1, x1] = [0, 1, 2, 3].map((j) => Math.min(1, Math.max(0, boxes[4 * i + j])) * s);
        faces.push(face(x0, y0, x1, y1, scores[i]));
      }
      return faces;
    }
    const grid = await this.nets.tiny(blob, p.width, p.height);
    const gw = p.width / TINY_STRIDE;
    const gh = p.height / TINY_STRIDE;
    const cells = gw * gh;
    const at = (a: number, field: number, cell: number) => grid[(a * 5 + field) * cells + cell];
    for (let cell = 0; cell < cells; cell++) {
      const col = cell % gw;
      const row = (cell - col) / gw;
      TINY_ANCHORS.forEach(([aw, ah], a) => {
        const score = sigmoid(at(a, 4, cell));
        if (!(score >= threshold)) return;
        const cx = (col + sigmoid(at(a, 0, cell))) * TINY_STRIDE;
        const cy = (row + sigmoid(at(a, 1, cell))) * TINY_STRIDE;
        const w = Math.exp(at(a, 2, cell)) * aw * TINY_STRIDE;
        const h = Math.exp(at(a, 3, cell)) * ah * TINY_STRIDE;
        faces.push(face(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, score));
      });
    }
    return faces;
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    if (this.ownsNets) await this.nets.release();
  }
}

function sigmoid(v: number): number {
  return 1 / (1 + Math.exp(-v));
}

function scaleFace(f: Face, kx: number, ky: number): Face {
  const { x1, y1, x2, y2 } = f.box;
  const p = (q: Point): Point => [q[0] * kx, q[1] * ky];
  return {
    box: { x1: x1 * kx, y1: y1 * ky, x2: x2 * kx, y2: y2 * ky },
    score: f.score,
    landmarks: f.landmarks.map(p) as Landmarks5,
  };
}

/**
 * The square for the second landmark pass: centred on the first pass's points (the middle of
 * their bounding box, moved down by `dy` times their extent), `side` times their extent.
 */
export function squareOfLandmarks(p: readonly Point[], g: { side: number; dy: number }): Square {
  let [x1, y1, x2, y2] = [Infinity, Infinity, -Infinity, -Infinity];
  for (const [x, y] of p)
    [x1, y1, x2, y2] = [Math.min(x1, x), Math.min(y1, y), Math.max(x2, x), Math.max(y2, y)];
  const extent = Math.max(x2 - x1, y2 - y1);
  const side = g.side * extent;
  return { x: (x1 + x2 - side) / 2, y: (y1 + y2) / 2 + g.dy * extent - side / 2, side };
}

/** A square scaled by `scale` about its centre and moved down by `dy` times its side. */
function adjust(sq: Square, g: { scale: number; dy: number }): Square {
  const side = sq.side * g.scale;
  return { x: sq.x + (sq.side - side) / 2, y: sq.y + (sq.side - side) / 2 + g.dy * sq.side, side };
}
