/**
 * TensorFlow.js weights (a weights manifest's groups and their shard bytes) as plain float32
 * arrays, without tfjs: the format of tfjs-core's io/io_utils.ts `decodeWeights`. Shards are
 * concatenated in manifest order; weights follow one another in the bytes in the order listed.
 * Quantised weights (uint8/uint16 with `scale` and `min`) are dequantised as `q * scale + min`;
 * float16 ones are widened. Every weight comes back as float32 (int32 constants of a frozen graph,
 * e.g. an SSD's shape tensors, included). No Node import: the files are read by tfjs_weights.ts.
 */
import { ArcfaceError, badInput } from '../errors.js';

export interface TfjsWeight {
  shape: number[];
  data: Float32Array;
}

interface ManifestEntry {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: { dtype: string; scale?: number; min?: number };
}

/** One group of a weights manifest: its shard files and the weights they hold, in order. */
export interface WeightsGroup {
  paths: string[];
  weights: ManifestEntry[];
}

const BYTES: Record<string, number> = { float32: 4, int32: 4, uint8: 1, uint16: 2, float16: 2, bool: 1 };

/** IEEE half -> float (tfjs writes float16-quantised weights this way). */
function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/**
 * The weights of one group from its shards' bytes (in `group.paths` order), into `out` by name;
 * `manifestPath` names the manifest in errors.
 */
export function decodeWeightsGroup(
  group: WeightsGroup,
  shards: readonly Uint8Array[],
  manifestPath: string,
  out: Map<string, TfjsWeight> = new Map(),
): Map<string, TfjsWeight> {
  const bytes = concat(shards);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let offset = 0;
  for (const w of group.weights) {
    const count = w.shape.reduce((a, b) => a * b, 1);
    const q = w.quantization;
    const stored = q ? q.dtype : w.dtype;
    const size = BYTES[stored];
    if (!size) throw badInput(`${manifestPath}: weight ${w.name} has unsupported dtype ${stored}`);
    if (offset + count * size > bytes.byteLength)
      throw badInput(`${manifestPath}: the shards end before weight ${w.name} (truncated .bin?)`);
    const data = new Float32Array(count);
    const scale = q && q.dtype !== 'float16' ? (q.scale ?? 1) : 1;
    const min = q && q.dtype !== 'float16' ? (q.min ?? 0) : 0;
    if (stored === 'uint8' || stored === 'bool') {
      // The common case (face-api's weights are uint8-quantised): a typed view, no DataView per value.
      const u8 = bytes.subarray(offset, offset + count);
      for (let i = 0; i < count; i++) data[i] = u8[i]! * scale + min;
    } else
      for (let i = 0; i < count; i++) {
        const at = offset + i * size;
        let v: number;
        switch (stored) {
          case 'float32':
            v = view.getFloat32(at, true);
            break;
          case 'int32':
            v = view.getInt32(at, true);
            break;
          case 'uint16':
            v = view.getUint16(at, true);
            break;
          default: // float16
            v = halfToFloat(view.getUint16(at, true));
        }
        data[i] = v * scale + min;
      }
    offset += count * size;
    out.set(w.name, { shape: [...w.shape], data });
  }
  if (offset !== bytes.byteLength)
    throw badInput(`${manifestPath}: ${bytes.byteLength - offset} bytes left over after the last weight`);
  return out;
}

/** One weight, or an error naming it (a renamed weight in a new face-api release fails loudly). */
export function weight(weights: Map<string, TfjsWeight>, name: string, shape?: number[]): TfjsWeight {
  const w = weights.get(name);
  if (!w) throw new ArcfaceError('BAD_SHAPE', `tfjs weights: "${name}" is missing`);
  if (shape && (shape.length !== w.shape.length || shape.some((d, i) => d !== w.shape[i])))
    throw new ArcfaceError('BAD_SHAPE', `tfjs weights: "${name}" is [${w.shape}], expected [${shape}]`);
  return w;
}
