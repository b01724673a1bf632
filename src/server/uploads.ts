/**
 * Images arrive as multipart file fields or as base64 strings in a JSON body (a data: URL is fine).
 * Multipart bodies are rewritten before validation into the JSON body's shape, so one JSON schema
 * validates both and the handlers see one form. Sizes are checked here (the decoded bytes of each
 * image) and by Fastify's limits (the request body, each multipart file); content is checked by
 * magic bytes in the service. Nothing here touches the file system.
 *
 * JSON bodies are validated as sent (no type coercion: `null` is not 0, `123` is not "123"). Multipart
 * text fields are always strings, so the ones the route's schema types as number, integer or boolean
 * are converted here, strictly: "0.5", "3", "true" and "false", nothing looser.
 */
import type { FastifyRequest } from 'fastify';
import type { ImageArg } from '../service/service.js';
import { ArcfaceError } from '../errors.js';
import { ServiceError } from '../service/errors.js';

/** Requests whose multipart body was read whole (multipartToJson ran): later errors are not the parser's. */
const read = new WeakSet<FastifyRequest>();

const NUMBER = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?$/;
const INTEGER = /^-?(0|[1-9][0-9]*)$/;

/** A multipart text field as the type its schema property names, or the string unchanged (the schema refuses it). */
function convertField(text: string, type: unknown): unknown {
  if ((type === 'number' && NUMBER.test(text)) || (type === 'integer' && INTEGER.test(text))) {
    const n = Number(text);
    return Number.isFinite(n) && (type === 'number' || Number.isSafeInteger(n)) ? n : text;
  }
  if (type === 'boolean' && (text === 'true' || text === 'false')) return text === 'true';
  return text;
}

/** Multipart file Buffers become base64 strings (the JSON body's form); typed text fields are converted. */
export async function multipartToJson(req: FastifyRequest): Promise<void> {
  if (!req.isMultipart()) return;
  read.add(req);
  if (typeof req.body !== 'object' || req.body === null) return;
  const body = req.body as Record<string, unknown>;
  const schema = req.routeOptions.schema?.body as
    { properties?: Record<string, { type?: unknown }> } | undefined;
  for (const [k, v] of Object.entries(body)) {
    if (typeof v === 'string') body[k] = convertField(v, schema?.properties?.[k]?.type);
    else if (Buffer.isBuffer(v)) body[k] = v.toString('base64');
    else if (Array.isArray(v)) body[k] = v.map((x) => (Buffer.isBuffer(x) ? x.toString('base64') : x));
  }
  // A single file sent under the plural field name is still a list.
  if (typeof body.images === 'string') body.images = [body.images];
}

/**
 * A multipart body the parser could not read (no boundary, garbage, truncated, malformed part
 * headers) fails with the parser's plain Error before multipartToJson runs: the client's fault, 400.
 */
export function multipartError(err: unknown, req: FastifyRequest): unknown {
  const e = err as { statusCode?: number; message?: string };
  if (!req.isMultipart() || read.has(req) || err instanceof ArcfaceError) return err;
  if (e.statusCode !== undefined) return err; // the plugin's own errors: limits (413) and the like
  return new ServiceError(
    'BAD_INPUT',
    `the multipart/form-data body cannot be read (${e.message ?? 'malformed'}): send each image as a file ` +
      `field of a complete multipart body with its boundary, or send JSON`,
  );
}

const DATA_URL = /^data:[\w.+/-]*;base64,/;
const BASE64 = /^[A-Za-z0-9+/\s]*={0,2}\s*$/;

/** The bytes of one base64 image field, with a label for messages. */
export function imageFromField(value: string, label: string, maxBytes: number): ImageArg {
  const text = value.replace(DATA_URL, '');
  if (!BASE64.test(text))
    throw new ServiceError('BAD_INPUT', `${label}: not base64 (send the file as multipart or base64)`);
  const bytes = Buffer.from(text, 'base64');
  if (bytes.length > maxBytes)
    throw new ServiceError(
      'TOO_LARGE',
      `${label}: ${bytes.length} bytes, over the ${maxBytes}-byte upload limit`,
    );
  if (bytes.length === 0) throw new ServiceError('BAD_INPUT', `${label}: empty image`);
  return { bytes, label };
}
