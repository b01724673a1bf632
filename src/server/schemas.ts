/** JSON schemas shared by the routes (request validation and the OpenAPI document). */
import type { FastifyRequest } from 'fastify';
import { ServiceError } from '../service/errors.js';
import { parseId } from '../gallery/index.js';
import { GALLERY_NAME } from '../service/names.js';

export const image = {
  type: 'string',
  contentEncoding: 'base64',
  description: 'the image file: a multipart file field, or base64 (a data: URL too) in a JSON body',
} as const;

export const galleryParams = {
  type: 'object',
  required: ['gallery'],
  properties: { gallery: { type: 'string', pattern: GALLERY_NAME.source } },
} as const;

/** A subject or face id in a URL: a canonical decimal integer (idParams converts it). */
const id = (what: string) =>
  ({
    type: 'integer',
    minimum: 1,
    maximum: Number.MAX_SAFE_INTEGER,
    description: `the ${what} id: decimal digits, no sign, point, exponent or leading zero`,
  }) as const;

export const subjectParams = {
  type: 'object',
  required: ['gallery', 'subject'],
  properties: { ...galleryParams.properties, subject: id('subject') },
} as const;

export const faceParams = {
  type: 'object',
  required: ['gallery', 'subject', 'face'],
  properties: { ...subjectParams.properties, face: id('face') },
} as const;

/**
 * preValidation of the routes with ids in their URL: "12" becomes 12, and only that spelling; "0x1",
 * "1.0", "01", "+1", "1e3" and anything past 2^53 - 1 are refused rather than read as some other id.
 */
export async function idParams(req: FastifyRequest): Promise<void> {
  const params = req.params as Record<string, unknown>;
  for (const key of ['subject', 'face', 'correction']) {
    const v = params[key];
    if (typeof v !== 'string') continue;
    const n = parseId(v);
    if (n === null)
      throw new ServiceError(
        'BAD_INPUT',
        `${key} id ${JSON.stringify(v.slice(0, 40))} is not valid: a whole number from 1 to ` +
          `${Number.MAX_SAFE_INTEGER}, written in decimal digits`,
      );
    params[key] = n;
  }
}

/** /verify: also answer `crops`, the two aligned faces as PNG data URLs (what the web page shows). */
export const verifyCrops = {
  type: 'boolean',
  default: false,
  description: 'also return crops: the two aligned face crops (the model input) as PNG data URLs',
} as const;

export const threshold = { type: 'number', minimum: -1, maximum: 1 } as const;

/** The quality gate's minimum (src/face/quality.ts); every face in an answer has a `quality` object. */
export const minQuality = {
  type: 'number',
  minimum: 0,
  maximum: 1,
  description:
    "minimum combined face quality (default: the server's, 0.2; 0 turns the gate off). Each face " +
    'answered carries quality {score, interOcular (px), sharpness, yaw, pitch (degrees), detScore, weakest}',
} as const;

export const errorResponse = {
  type: 'object',
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: {
        code: { type: 'string' },
        message: { type: 'string' },
        failures: {
          type: 'array',
          items: {
            type: 'object',
            properties: { image: { type: 'string' }, code: { type: 'string' }, message: { type: 'string' } },
          },
        },
      },
    },
  },
} as const;

/** Every route's error answers (4xx and 5xx alike). */
export const errorResponses = { '4xx': errorResponse, '5xx': errorResponse } as const;

/** A stored id in a JSON body (a subject, face or cluster): a positive safe integer. */
export const bodyId = { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER } as const;

/** Both body encodings every image route takes. */
export const imageConsumes = ['application/json', 'multipart/form-data'];

/** A subject's fields as a request gives them (a new subject, or a cluster being named). */
export const subjectBody = {
  type: 'object',
  required: ['name'],
  additionalProperties: false,
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 200 },
    externalId: { type: 'string', minLength: 1, maxLength: 200 },
    metadata: { description: 'free JSON: at most 16 KB and 32 levels deep' },
  },
} as const;
