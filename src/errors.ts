/**
 * Errors a user can act on. Every failure the library can foresee (bad shapes, bad labels,
 * a batch that cannot fit the wasm heap, a missing file) is one of these, with a code
 * stable enough for the CLI's exit status and the HTTP API's error body.
 */
export type ArcfaceErrorCode =
  'BAD_INPUT' | 'BAD_SHAPE' | 'BAD_LABELS' | 'BAD_CONFIG' | 'OUT_OF_MEMORY' | 'NOT_FOUND' | 'BACKEND';

export class ArcfaceError extends Error {
  readonly code: ArcfaceErrorCode;
  constructor(code: ArcfaceErrorCode, message: string) {
    super(message);
    this.name = 'ArcfaceError';
    this.code = code;
  }
}

export function badInput(message: string): ArcfaceError {
  return new ArcfaceError('BAD_INPUT', message);
}
export function badShape(message: string): ArcfaceError {
  return new ArcfaceError('BAD_SHAPE', message);
}
export function badLabels(message: string): ArcfaceError {
  return new ArcfaceError('BAD_LABELS', message);
}
