/** What every route module gets from buildServer. */
import type { RecognitionService } from '../service/service.js';

export interface ServerContext {
  service: RecognitionService;
  /** Bytes of one uploaded image. */
  maxUploadBytes: number;
  /** Images in one enroll request. */
  maxImages: number;
  /** Runs the work in a queue slot (BUSY 503 when full); TIMEOUT 503 and `signal` aborted at the limit. */
  within<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T>;
}
