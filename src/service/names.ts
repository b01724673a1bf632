/**
 * Gallery names are identifiers: they travel in URLs and command lines and are shown everywhere, so
 * they are kept to a small alphabet. No name ever becomes a file path (the stores keep galleries as
 * rows), and this check makes sure none could.
 */
import { badInput } from '../errors.js';

export const GALLERY_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

export function checkGalleryName(name: unknown): string {
  if (typeof name !== 'string' || !GALLERY_NAME.test(name))
    throw badInput(
      `gallery name ${JSON.stringify(name)} is not valid: 1 to 64 letters, digits, '_' or '-', starting ` +
        `with a letter or digit`,
    );
  return name;
}
