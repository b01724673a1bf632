/**
 * Images arrive as multipart file fields or as base64 strings in a JSON body (a data: URL is fine).
 * Multipart bodies are rewritten before validation into the JSON body's shape, so one JSON schema
 * validates both and the handlers see one form. Sizes are checked here (the decoded bytes of each
 * image) and by Fastify's limits (the request body, each multipart file); content is checked by
 * magic bytes in the service. Nothing here touches the file system.
 */
import type { FastifyRequest } from 'fastify';
import type { ImageArg } from '../service/service.js';
import { ServiceError } from '../service/errors.js';

/** Multipart file Buffers become base64 strings: the JSON body's form. */
export async function multipartToJson(req: FastifyRequest): Promise<void> {
  if (!req.isMultipart() || typeof req.body !== 'object' || req.body === null) return;
  const body = req.body as Record<string, unknown>;
  for (const [k, v] of Object.entries(body)) {
    if (Buffer.isBuffer(v)) body[k] = v.toString('base64');
    else if (Array.isArray(v)) body[k] = v.map((x) => (Buffer.isBuffer(x) ? x.toString('base64') : x));
  }
  // A single file sent under the plural field name is still a list.
  if (typeof body.images === 'string') body.images = [body.images];
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
