/**
 * Creation times the caller may give (an import keeps the exported ones): ISO 8601 with a zone,
 * stored as the UTC `toISOString()` form both stores print back. Absent: now.
 */
import { badInput } from '../errors.js';

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/;

export function storedTime(value: string | undefined, what: string): string {
  if (value === undefined) return new Date().toISOString();
  const ms = typeof value === 'string' && ISO.test(value) ? Date.parse(value) : NaN;
  if (!Number.isFinite(ms))
    throw badInput(
      `${what}: createdAt ${typeof value === 'string' ? `'${value.slice(0, 40)}'` : String(value)} is not ` +
        `an ISO 8601 time with a zone (e.g. 2024-01-02T03:04:05.000Z)`,
    );
  return new Date(ms).toISOString();
}
