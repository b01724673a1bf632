/**
 * Every failure as the one JSON shape the API promises, `{"error": {"code", "message"}}`, with the
 * HTTP status that says whose fault it is. Unexpected errors are logged and answered with a generic
 * 500 message: no stack or internal path reaches a client.
 *
 * The service's messages name the store's location (useful on the CLI: which folder, which
 * database), and library errors may name a model file: the API strips both here, at the boundary,
 * so no message tells a client where the server keeps its data.
 */
import { ArcfaceError } from '../errors.js';
import { ServiceError } from '../service/errors.js';

export interface HttpError {
  status: number;
  body: {
    error: { code: string; message: string; failures?: { image: string; code: string; message: string }[] };
  };
}

const SERVICE_STATUS: Record<ServiceError['kind'], number> = {
  BAD_INPUT: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  CONFLICT: 409,
  TOO_LARGE: 413,
  UNSUPPORTED_MEDIA: 415,
  NO_FACE: 422,
  LOW_QUALITY: 422,
  TIMEOUT: 503,
  BUSY: 503,
};

const LIBRARY_STATUS: Partial<Record<ArcfaceError['code'], number>> = {
  BAD_INPUT: 400,
  BAD_SHAPE: 400,
  BAD_LABELS: 400,
  NOT_FOUND: 404,
};

/** Fastify's own request errors (parsing, limits) by their codes. */
const FASTIFY: Record<string, [number, string]> = {
  FST_ERR_CTP_BODY_TOO_LARGE: [413, 'TOO_LARGE'],
  FST_REQ_FILE_TOO_LARGE: [413, 'TOO_LARGE'],
  FST_FILES_LIMIT: [413, 'TOO_LARGE'],
  FST_PARTS_LIMIT: [413, 'TOO_LARGE'],
  FST_FIELDS_LIMIT: [413, 'TOO_LARGE'],
  FST_ERR_CTP_INVALID_MEDIA_TYPE: [415, 'UNSUPPORTED_MEDIA'],
  FST_ERR_CTP_INVALID_JSON_BODY: [400, 'BAD_INPUT'],
  FST_ERR_CTP_EMPTY_JSON_BODY: [400, 'BAD_INPUT'],
  FST_INVALID_MULTIPART_CONTENT_TYPE: [400, 'BAD_INPUT'],
};

/** Absolute POSIX paths (two or more segments), file: URLs and Windows drive paths, wherever they appear. */
const ABSOLUTE_PATH =
  /\bfile:\/\/[^\s'"`]*|(?<![\w.~/-])\/(?:[^\s'"`/:;,()<>]+\/)+[^\s'"`/:;,()<>]*|\b[A-Za-z]:\\[^\s'"`]*/g;

/** The message without the store's location (`hide`) or any other absolute path. */
export function redact(message: string, hide: readonly string[] = []): string {
  let out = message;
  for (const h of hide) if (h) out = out.split(h).join('the gallery store');
  return out.replace(ABSOLUTE_PATH, '<path>');
}

/** `hide`: strings no message may show (the store's location), replaced before any other path. */
export function toHttpError(err: unknown, hide: readonly string[] = []): HttpError {
  const http = httpError(err);
  http.body.error.message = redact(http.body.error.message, hide);
  const failures = http.body.error.failures;
  if (failures)
    http.body.error.failures = failures.map((f) => ({
      image: redact(f.image, hide),
      code: f.code,
      message: redact(f.message, hide),
    }));
  return http;
}

function httpError(err: unknown): HttpError {
  if (err instanceof ServiceError) {
    const body: HttpError['body'] = { error: { code: err.kind, message: err.message } };
    if (err.failures.length) body.error.failures = err.failures;
    return { status: SERVICE_STATUS[err.kind], body };
  }
  if (err instanceof ArcfaceError) {
    const status = LIBRARY_STATUS[err.code];
    if (status)
      return {
        status,
        body: { error: { code: status === 404 ? 'NOT_FOUND' : 'BAD_INPUT', message: err.message } },
      };
    return { status: 500, body: { error: { code: 'INTERNAL', message: err.message } } };
  }
  const e = err as { code?: string; statusCode?: number; validation?: unknown; message?: string };
  if (e.validation)
    return { status: 400, body: { error: { code: 'BAD_INPUT', message: e.message ?? 'invalid request' } } };
  const known = e.code ? FASTIFY[e.code] : undefined;
  if (known) return { status: known[0], body: { error: { code: known[1], message: e.message ?? known[1] } } };
  if (e.statusCode && e.statusCode >= 400 && e.statusCode < 500)
    return {
      status: e.statusCode,
      body: { error: { code: 'BAD_INPUT', message: e.message ?? 'bad request' } },
    };
  return {
    status: 500,
    body: { error: { code: 'INTERNAL', message: 'internal error (see the server log)' } },
  };
}
