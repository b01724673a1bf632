/** What every route module gets from buildServer. */
import type { RecognitionService } from '../service/service.js';

export interface ServerContext {
  service: RecognitionService;
  /** Bytes of one uploaded image. */
  maxUploadBytes: number;
  /** Images in one enroll request. */
  maxImages: number;
  /** Rejects with TIMEOUT (503) when the work takes longer than the request timeout. */
  within<T>(work: Promise<T>): Promise<T>;
}
