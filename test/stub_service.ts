/**
 * A RecognitionService over a real SQLite store with a stub recogniser: enough for the routes that
 * only list, create and delete galleries and subjects (the security tests), with no model loaded.
 */
import { openStore } from '../src/gallery/index.js';
import type { FaceRecognizer } from '../src/pipeline/recognizer.js';
import { RecognitionService } from '../src/service/index.js';

const stubRecognizer = { manifest: { name: 'stub', output: { dim: 4 } } } as unknown as FaceRecognizer;

export async function stubService(dir: string): Promise<RecognitionService> {
  return new RecognitionService(await openStore(dir), stubRecognizer);
}
