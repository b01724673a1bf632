/**
 * face-api's 68-point landmark pass on onnxruntime: square crops centred on face boxes, sampled
 * into one [n, 3, 112, 112] batch, points mapped back to the image, reduced to the ArcFace five.
 *
 * The crop is what face-api's detectLandmarks sees: the box's square of side max(w, h) centred on
 * it, black outside the image, resized as face-api resizes (faceapi_sample.ts), or averaged rather
 * than aliased when much larger than the net's input (36 MP photos have faces of 1,000 px).
 * face-api shows only the box (clipped to the photo, floored) on black (faceApiSquare); the
 * square can instead show the photo around the box (squareOfBox).
 */
import { LANDMARK_INPUT_SIZE } from '../../convert/faceapi_landmark68.js';
import type { RgbImage } from '../../image/types.js';
import type { Box, Landmarks5, Point } from '../types.js';
import type { FaceApiSessions } from './faceapi_sessions.js';
import { sampleRegion, type Region } from './faceapi_sample.js';

/**
 * A square region of the image: top-left corner and side, in continuous pixel coordinates;
 * `visible`, when set, is the part of the photo shown (the rest black).
 */
export interface Square {
  x: number;
  y: number;
  side: number;
  visible?: Region;
}

/** The box's square: side max(w, h), same centre, the photo around the box showing. */
export function squareOfBox(b: Box): Square {
  const side = Math.max(b.x2 - b.x1, b.y2 - b.y1);
  return { x: (b.x1 + b.x2 - side) / 2, y: (b.y1 + b.y2 - side) / 2, side };
}

/**
 * face-api's crop of a box (extractFaceTensors + padToSquare): the box clipped to the photo and
 * floored, alone on black, centred in a square with the odd pixel of padding after it. (face-api
 * maps points back as if the padding were even: a half pixel off on odd padding; not copied.)
 */
export function faceApiSquare(b: Box, width: number, height: number): Square {
  const x = Math.floor(Math.max(0, b.x1));
  const y = Math.floor(Math.max(0, b.y1));
  const w = Math.floor(Math.min(b.x2, width) - Math.max(0, b.x1));
  const h = Math.floor(Math.min(b.y2, height) - Math.max(0, b.y1));
  const side = Math.max(w, h);
  return {
    x: x - (side - w - Math.round((side - w) / 2)),
    y: y - (side - h - Math.round((side - h) / 2)),
    side,
    visible: { x, y, width: w, height: h },
  };
}

/**
 * The 68 points for each square, in image pixels (one batched inference). `maxSamples` 1 resizes
 * as face-api does; more averages n x n samples per input pixel of crops n times the input or more.
 */
export async function landmarks68(
  nets: FaceApiSessions,
  img: RgbImage,
  squares: readonly Square[],
  maxSamples = 1,
): Promise<Point[][]> {
  if (squares.length === 0) return [];
  const s = LANDMARK_INPUT_SIZE;
  const blob = new Float32Array(squares.length * 3 * s * s);
  squares.forEach((sq, i) =>
    sampleRegion(img, { x: sq.x, y: sq.y, width: sq.side, height: sq.side }, s, s, blob, {
      offset: i * 3 * s * s,
      maxSamples,
      visible: sq.visible,
    }),
  );
  const out = await nets.landmarks(blob, squares.length);
  return squares.map((sq, i) =>
    Array.from({ length: 68 }, (_, k): Point => [
      sq.x + out[i * 136 + 2 * k] * sq.side,
      sq.y + out[i * 136 + 2 * k + 1] * sq.side,
    ]),
  );
}

/**
 * The ArcFace five from iBUG's 68 (0-based): eye centres = mean of 36-41 and of 42-47, nose tip
 * 30, mouth corners 48 and 54. In the face's own frame: 36-41 is the eye on the image left of an
 * upright face, so an upright face comes out left = smaller x, and a rotated one stays in the
 * order a similarity transform to the template needs.
 */
export function fiveFrom68(p: readonly Point[]): Landmarks5 {
  const mean = (from: number, to: number): Point => {
    let x = 0;
    let y = 0;
    for (let i = from; i <= to; i++) [x, y] = [x + p[i][0], y + p[i][1]];
    return [x / (to - from + 1), y / (to - from + 1)];
  };
  return [mean(36, 41), mean(42, 47), [...p[30]], [...p[48]], [...p[54]]];
}
