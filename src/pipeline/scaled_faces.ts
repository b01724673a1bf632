/**
 * Faces of an ImageSource in the photo's own pixels: detection runs on `source.image` (a large
 * JPEG's reduced decode) and boxes and landmarks are mapped back to the photo. Where the reduced copy
 * holds fewer pixels than a step reads, that step reads the face's region decoded at full
 * resolution instead, as it would have on the whole photo:
 *
 * - face-api's 68-point net reads a 112x112 crop of the box: a box under 112 reduced pixels gets its
 *   landmarks from the photo's pixels, a larger one from the reduced copy;
 * - the aligned crop (dlib's 150x150 chip, the ArcFace 112x112): when its source region in the
 *   reduced copy is smaller than the crop, it is warped from the photo's pixels (then it is the
 *   whole photo's crop, bit for bit); otherwise from the reduced copy, which it downsamples anyway.
 */
import { LANDMARK_INPUT_SIZE } from '../convert/faceapi_landmark68.js';
import type { AlignedFace } from '../face/align.js';
import { FaceApiDetectorCore } from '../face/detectors/faceapi_core.js';
import type { DetectOptions, Detector } from '../face/detectors/types.js';
import type { Box, Face, Landmarks5, Point } from '../face/types.js';
import { applyAffine, invertAffine } from '../face/umeyama.js';
import { isReduced, type ImageSource, type PixelRect } from '../image/source_core.js';
import type { RgbImage } from '../image/types.js';

type MapPoint = (p: Point) => Point;

/** Reduced copy -> photo and back, by pixel centres (libvips' resize convention). */
function scales(s: ImageSource): { up: MapPoint; down: MapPoint; k: number } {
  const kx = s.width / s.image.width;
  const ky = s.height / s.image.height;
  return {
    up: ([x, y]) => [(x + 0.5) * kx - 0.5, (y + 0.5) * ky - 0.5],
    down: ([x, y]) => [(x + 0.5) / kx - 0.5, (y + 0.5) / ky - 0.5],
    k: (kx + ky) / 2,
  };
}

const shift =
  (dx: number, dy: number): MapPoint =>
  ([x, y]) => [x + dx, y + dy];

function mapFace(f: Face, p: MapPoint): Face {
  const [a, b] = [p([f.box.x1, f.box.y1]), p([f.box.x2, f.box.y2])];
  const out: Face = {
    ...f,
    box: { x1: a[0], y1: a[1], x2: b[0], y2: b[1] },
    landmarks: f.landmarks.map(p) as Landmarks5,
  };
  if (f.landmarks68) out.landmarks68 = f.landmarks68.map(p);
  return out;
}

const side = (b: Box): number => Math.max(b.x2 - b.x1, b.y2 - b.y1);

/** Room for both landmark passes' squares and the aligned crop around a box: 3x its side. */
function around(b: Box): PixelRect {
  const r = 1.5 * side(b) + 2;
  const [cx, cy] = [(b.x1 + b.x2) / 2, (b.y1 + b.y2) / 2];
  return { x1: cx - r, y1: cy - r, x2: cx + r, y2: cy + r };
}

function union(rs: readonly PixelRect[]): PixelRect {
  return {
    x1: Math.min(...rs.map((r) => r.x1)),
    y1: Math.min(...rs.map((r) => r.y1)),
    x2: Math.max(...rs.map((r) => r.x2)),
    y2: Math.max(...rs.map((r) => r.y2)),
  };
}

/** Faces in the photo's pixels; `opts.minFaceSize` is in the photo's pixels, as for a detector. */
export async function detectFaces(
  detector: Detector,
  source: ImageSource,
  opts: DetectOptions = {},
): Promise<Face[]> {
  if (!isReduced(source)) return detector.detect(source.image, opts);
  const { up, k } = scales(source);
  const scaled = { ...opts, minFaceSize: opts.minFaceSize === undefined ? undefined : opts.minFaceSize / k };
  if (!(detector instanceof FaceApiDetectorCore))
    return (await detector.detect(source.image, scaled)).map((f) => mapFace(f, up));
  // face-api: boxes on the reduced copy, landmarks from whichever image holds the face's pixels.
  const found = await detector.boxes(source.image, scaled);
  const faces = found.map((f) => mapFace(f, up));
  const small = (i: number) => side(found[i]!.box) < LANDMARK_INPUT_SIZE;
  const placed: Placed[] = [];
  const place = async (img: RgbImage, which: number[], box: (i: number) => Box, back: MapPoint) => {
    if (which.length === 0) return;
    const pts = await detector.landmarks(img, which.map(box));
    which.forEach(
      (i, j) =>
        (placed[i] = {
          landmarks: pts[j]!.landmarks.map(back) as Landmarks5,
          landmarks68: pts[j]!.landmarks68.map(back),
        }),
    );
  };
  const all = found.map((_, i) => i);
  await place(
    source.image,
    all.filter((i) => !small(i)),
    (i) => found[i]!.box,
    up,
  );
  const fine = all.filter(small);
  if (fine.length > 0) {
    const patch = await source.region(union(fine.map((i) => around(faces[i]!.box))));
    const into = shift(-patch.x, -patch.y);
    await place(patch.image, fine, (i) => mapFace(faces[i]!, into).box, shift(patch.x, patch.y));
  }
  return faces.map((f, i) => ({ box: f.box, score: f.score, ...placed[i]! }));
}

type Placed = Pick<Face, 'landmarks'> & { landmarks68: Point[] };

/**
 * The aligned crop of each face (in the photo's pixels); `align` is the recogniser's warp (its
 * template and size), applied to the reduced copy or to a full-resolution patch.
 */
export async function alignFaces(
  source: ImageSource,
  faces: readonly Face[],
  align: (img: RgbImage, face: Face) => AlignedFace,
): Promise<RgbImage[]> {
  if (!isReduced(source)) return faces.map((f) => align(source.image, f).image);
  const { up, down, k } = scales(source);
  const crops: RgbImage[] = [];
  const fine: { i: number; rect: PixelRect }[] = [];
  faces.forEach((f, i) => {
    const a = align(source.image, mapFace(f, down));
    const [m0, m1, , m3, m4] = a.matrix;
    const perPixel = Math.sqrt(Math.abs(m0 * m4 - m1 * m3)); // crop pixels per reduced pixel
    if (perPixel <= 1) crops[i] = a.image;
    else fine.push({ i, rect: cropWindow(a, up, k / perPixel) });
  });
  if (fine.length > 0) {
    const patch = await source.region(union(fine.map((x) => x.rect)));
    const into = shift(-patch.x, -patch.y);
    for (const { i } of fine) crops[i] = align(patch.image, mapFace(faces[i], into)).image;
  }
  return crops;
}

/**
 * The photo's pixels a crop reads: its corners mapped back, with a margin for the bilinear taps and
 * for dlib's pyramid (which grows its window by 2, 6, 14... pixels, about 4 photo pixels per chip
 * pixel); `photoPerCrop` = photo pixels per crop pixel.
 */
function cropWindow(a: AlignedFace, up: MapPoint, photoPerCrop: number): PixelRect {
  const inv = invertAffine(a.matrix);
  const { width: w, height: h } = a.image;
  const corners = [
    [0, 0],
    [w - 1, 0],
    [0, h - 1],
    [w - 1, h - 1],
  ].map((c) => up(applyAffine(inv, c as Point)));
  const m = Math.ceil(4 * photoPerCrop) + 4;
  return union(corners.map(([x, y]) => ({ x1: x - m, y1: y - m, x2: x + m, y2: y + m })));
}
