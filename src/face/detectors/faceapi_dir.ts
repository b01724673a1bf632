/** Where the installed @vladmandic/face-api keeps its weights (no tfjs needed to find them). */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);

/** Directory of the weights inside the installed @vladmandic/face-api. */
export function faceApiModelDir(): string {
  return join(dirname(require.resolve('@vladmandic/face-api/package.json')), 'model');
}
