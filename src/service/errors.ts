/**
 * The service's own failure kinds, beyond the library's ArcfaceError codes: what the HTTP API maps to
 * 401/403/409/413/422/503 and the CLI to exit codes. A ServiceError is an ArcfaceError (code BAD_INPUT),
 * so code that only knows the library's errors still treats it as the caller's fault.
 */
import { ArcfaceError } from '../errors.js';

export type ServiceErrorKind =
  | 'BAD_INPUT'
  | 'CONFLICT'
  | 'TIMEOUT'
  | 'BUSY'
  | 'NO_FACE'
  /** The face is below the enroll gate's minimum quality (src/face/quality.ts): 422 like NO_FACE. */
  | 'LOW_QUALITY'
  | 'TOO_LARGE'
  | 'UNSUPPORTED_MEDIA'
  | 'UNAUTHORIZED'
  | 'FORBIDDEN';

/** One image's failure inside a call that takes several (enroll). */
export interface ImageFailure {
  image: string;
  code: string;
  message: string;
}

export class ServiceError extends ArcfaceError {
  constructor(
    readonly kind: ServiceErrorKind,
    message: string,
    /** Per-image failures, when the call took several images. */
    readonly failures: ImageFailure[] = [],
  ) {
    super('BAD_INPUT', message);
    this.name = 'ServiceError';
  }
}
