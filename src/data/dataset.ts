/**
 * A training set of aligned crops: one folder per identity (ROOT/<identity>/*.png, as `arcface
 * prepare` writes) or a `file,identity` CSV. Labels are indices into the identity names sorted in
 * code-point order, and items are sorted by file, so the same folder always gives the same labels
 * (a checkpoint's classifier rows stay attached to the right people).
 */
import { ArcfaceError, badInput, badShape } from '../errors.js';
import { readLabelledImages } from '../eval/labels.js';
import { decodeImage } from '../image/decode.js';

export interface FaceItem {
  file: string;
  identity: string;
  /** Index into `identities`. */
  label: number;
}

export interface FaceDataset {
  /** The folder the items were read from (CSV paths are relative to it). */
  root: string;
  items: FaceItem[];
  /** Sorted identity names; `label` indexes this list. */
  identities: string[];
  numClasses: number;
}

export interface OpenDatasetOptions {
  /** A `file,identity` CSV with paths relative to `root`, instead of identity folders. */
  labels?: string;
}

/** The crop side the loader expects: the ArcFace template's 112x112. */
export const CROP_SIZE = 112;

const byCodePoint = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

export async function openFaceDataset(root: string, opts: OpenDatasetOptions = {}): Promise<FaceDataset> {
  const listed = await readLabelledImages(root, opts.labels);
  const ds = datasetOf(
    root,
    listed.map(({ file, identity }) => ({ file, identity })),
  );
  if (ds.numClasses < 2)
    throw badInput(
      `${opts.labels ?? root}: only one identity ('${ds.identities[0]}'); training a classifier needs at least 2 ` +
        `(one folder per person under ${root}, or more identities in the labels file)`,
    );
  return ds;
}

/**
 * A dataset over the given items, labelled by the sorted identity names among them. Used for the
 * train / validation sides of a split, whose labels restart at 0.
 */
export function datasetOf(root: string, items: readonly { file: string; identity: string }[]): FaceDataset {
  if (items.length === 0) throw badInput(`${root}: no images`);
  const identities = [...new Set(items.map((i) => i.identity))].sort(byCodePoint);
  const index = new Map(identities.map((id, k) => [id, k]));
  return {
    root,
    items: items.map(({ file, identity }) => ({ file, identity, label: index.get(identity)! })),
    identities,
    numClasses: identities.length,
  };
}

/**
 * Decode one aligned crop to RGB bytes, refusing anything that is not size x size: a training set
 * of unaligned photos would otherwise train silently on garbage.
 */
export async function decodeCrop(file: string, size = CROP_SIZE): Promise<Uint8Array> {
  const img = await decodeImage(file);
  if (img.width !== size || img.height !== size)
    throw badShape(
      `${file}: ${img.width}x${img.height}, expected an aligned ${size}x${size} crop (make them with arcface prepare)`,
    );
  return img.data;
}

/** Per-channel (v - mean[c]) / std[c] of RGB bytes. */
export interface Normalisation {
  mean: readonly [number, number, number];
  std: readonly [number, number, number];
}

/** arcface_torch's dataset.py Normalize(0.5, 0.5) on 0..255 values: (v - 127.5) / 127.5. */
export const ARCFACE_NORM: Normalisation = { mean: [127.5, 127.5, 127.5], std: [127.5, 127.5, 127.5] };

/**
 * RGB bytes -> NHWC floats (v - mean) / std at `offset` (default (v - 127.5) / 127.5), mirrored
 * left-right when `flip`, as arcface_torch's dataset.py (RandomHorizontalFlip, ToTensor,
 * Normalize(0.5, 0.5)) but kept in HWC. Other backbones bring their own (dlib's ResNet: its means, / 255).
 */
export function normaliseInto(
  dst: Float32Array,
  offset: number,
  rgb: Uint8Array,
  size: number,
  flip: boolean,
  norm: Normalisation = ARCFACE_NORM,
): void {
  if (rgb.length !== size * size * 3)
    throw new ArcfaceError('BAD_SHAPE', `normaliseInto: ${rgb.length} bytes is not ${size}x${size} RGB`);
  const row = size * 3;
  const [m0, m1, m2] = norm.mean;
  const [s0, s1, s2] = norm.std;
  for (let y = 0; y < size; y++) {
    const base = y * row;
    for (let x = 0; x < size; x++) {
      const s = base + (flip ? size - 1 - x : x) * 3;
      const d = offset + base + x * 3;
      dst[d] = (rgb[s] - m0) / s0;
      dst[d + 1] = (rgb[s + 1] - m1) / s1;
      dst[d + 2] = (rgb[s + 2] - m2) / s2;
    }
  }
}
