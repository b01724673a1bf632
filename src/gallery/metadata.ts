/**
 * A subject's free metadata is kept as JSON beside it and returned with every listing, so it is
 * bounded: MAX_METADATA_BYTES of JSON and MAX_METADATA_DEPTH levels. The depth is walked without
 * recursion first, because JSON.stringify itself overflows the stack on deep enough values.
 */
import { badInput } from '../errors.js';
import type { JsonValue } from './types.js';

export const MAX_METADATA_BYTES = 16 * 1024;
export const MAX_METADATA_DEPTH = 32;

export interface MetadataProblem {
  /** 'size': over MAX_METADATA_BYTES (413 in the API); 'shape': too deep or not JSON (400). */
  kind: 'size' | 'shape';
  message: string;
}

/** What is wrong with this metadata (null: nothing), and its JSON text when it is fine (none given: null). */
export function inspectMetadata(value: unknown): { problem: MetadataProblem | null; json: string } {
  const stack: [unknown, number][] = [[value ?? null, 1]];
  let nodes = 0;
  while (stack.length) {
    const [v, depth] = stack.pop()!;
    // Every value takes at least one byte of JSON: more values than bytes cannot fit.
    if (++nodes > MAX_METADATA_BYTES) return tooLarge(`more than ${MAX_METADATA_BYTES} values`);
    if (v === null || typeof v === 'string' || typeof v === 'boolean') continue;
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) return shape(`holds ${v}, which JSON cannot carry`);
      continue;
    }
    if (typeof v !== 'object') return shape(`holds a ${typeof v}, which JSON cannot carry`);
    if (depth > MAX_METADATA_DEPTH)
      return shape(`is nested more than ${MAX_METADATA_DEPTH} levels deep (keep it flat: ids, notes, tags)`);
    for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push([child, depth + 1]);
  }
  const json = JSON.stringify(value ?? null);
  const bytes = Buffer.byteLength(json, 'utf8');
  if (bytes > MAX_METADATA_BYTES) return tooLarge(`${bytes} bytes of JSON`);
  return { problem: null, json };
}

const shape = (why: string) => ({
  problem: { kind: 'shape' as const, message: `subject metadata ${why}` },
  json: '',
});
const tooLarge = (what: string) => ({
  problem: {
    kind: 'size' as const,
    message: `subject metadata is ${what}, over the ${MAX_METADATA_BYTES}-byte limit (keep files and photos elsewhere)`,
  },
  json: '',
});

/** The metadata's JSON text, for a store to keep; BAD_INPUT when it is too large or too deep. */
export function metadataJson(value: JsonValue | undefined, what: string): string {
  const { problem, json } = inspectMetadata(value);
  if (problem) throw badInput(`${what}: ${problem.message}`);
  return json;
}
