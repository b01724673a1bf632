/** Checks shared by the stores: names and external ids, and the NOT_FOUND error they raise. */
import { ArcfaceError, badInput } from '../errors.js';

/** Longest gallery / subject name or external id a store accepts. */
export const MAX_NAME = 200;

export function checkName(value: unknown, what: string): string {
  if (
    typeof value !== 'string' ||
    value.trim() === '' ||
    value.length > MAX_NAME ||
    [...value].some((ch) => ch.charCodeAt(0) < 32)
  )
    throw badInput(
      `${what} must be a non-empty string of at most ${MAX_NAME} characters without control characters`,
    );
  return value;
}

export function notFound(message: string): ArcfaceError {
  return new ArcfaceError('NOT_FOUND', message);
}
