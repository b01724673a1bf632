/**
 * Gallery names are identifiers: they travel in URLs and command lines and are shown everywhere, so
 * they are kept to a small alphabet. No name ever becomes a file path (the stores keep galleries as
 * rows), and this check makes sure none could.
 *
 * Subject names and external ids are free text within the stores' rule (gallery/names.ts: NFC, at
 * most 200 code points, no bidi or control characters, no lone surrogates), which every store write
 * applies, so the CLI, import and the API share it; metadata is bounded in size and depth.
 */
import { badInput } from '../errors.js';
import { checkName, inspectMetadata } from '../gallery/index.js';
import { ServiceError } from './errors.js';

export const GALLERY_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

export function checkGalleryName(name: unknown): string {
  if (typeof name !== 'string' || !GALLERY_NAME.test(name))
    throw badInput(
      `gallery name ${JSON.stringify(name)} is not valid: 1 to 64 letters, digits, '_' or '-', starting ` +
        `with a letter or digit`,
    );
  return name;
}

/** A subject name or external id as it will be stored (NFC); BAD_INPUT naming the rule it breaks. */
export function checkSubjectName(value: unknown, what: string): string {
  return checkName(value, what);
}

/** Subject metadata within its limits: TOO_LARGE (413) over the byte cap, BAD_INPUT when too deep. */
export function checkMetadata(value: unknown): void {
  const { problem } = inspectMetadata(value);
  if (problem) throw new ServiceError(problem.kind === 'size' ? 'TOO_LARGE' : 'BAD_INPUT', problem.message);
}
