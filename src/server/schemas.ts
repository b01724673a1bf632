/** JSON schemas shared by the routes (request validation and the OpenAPI document). */
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

export const subjectParams = {
  type: 'object',
  required: ['gallery', 'subject'],
  properties: { ...galleryParams.properties, subject: { type: 'integer', minimum: 1 } },
} as const;

export const faceParams = {
  type: 'object',
  required: ['gallery', 'subject', 'face'],
  properties: { ...subjectParams.properties, face: { type: 'integer', minimum: 1 } },
} as const;

/** /verify: also answer `crops`, the two aligned faces as PNG data URLs (what the web page shows). */
export const verifyCrops = {
  type: 'boolean',
  default: false,
  description: 'also return crops: the two aligned face crops (the model input) as PNG data URLs',
} as const;

export const threshold = { type: 'number', minimum: -1, maximum: 1 } as const;

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

/** Both body encodings every image route takes. */
export const imageConsumes = ['application/json', 'multipart/form-data'];
