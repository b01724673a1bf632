/**
 * Enroll and identify by embedding: for clients that detect, align and embed on their own device
 * (the web page's private mode, src/browser/), so that no photo leaves it. The embeddings must come
 * from the gallery's model, which is the server's (its thresholds and FAR table are applied); the
 * answers are the photo routes' (gallery_routes.ts), less what only a photo gives.
 */
import type { FastifyInstance } from 'fastify';
import type { Aggregate, PhotoBox } from '../gallery/index.js';
import type { ServerContext } from './context.js';
import { checkIdentifyThreshold } from './threshold_policy.js';
import { imageFromField } from './uploads.js';
import { errorResponses, galleryParams, idParams, subjectParams, threshold } from './schemas.js';

type G = { gallery: string };
type S = G & { subject: number };

/** The longest embedding any recogniser here makes is 512; room for larger ones, not for abuse. */
const MAX_DIM = 4096;
/** One aligned crop as PNG (112x112 or 150x150: tens of KB). */
const MAX_CROP_BYTES = 256 * 1024;

const model = {
  type: 'string',
  minLength: 1,
  maxLength: 200,
  description: "the recogniser that made the embeddings: must be the gallery's model (GET /models: name)",
} as const;
const embeddings = (max: number) =>
  ({
    type: 'array',
    minItems: 1,
    maxItems: max,
    items: { type: 'array', minItems: 1, maxItems: MAX_DIM, items: { type: 'number' } },
    description:
      "one embedding per face, each as many numbers as the model's dim (128 or 512), finite and not all zero",
  }) as const;
const box = {
  type: 'object',
  required: ['x1', 'y1', 'x2', 'y2'],
  additionalProperties: false,
  properties: {
    x1: { type: 'number' },
    y1: { type: 'number' },
    x2: { type: 'number' },
    y2: { type: 'number' },
  },
} as const;

export function embeddingRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const { service, maxImages, within } = ctx;
  const tags = ['galleries'];

  app.post<{ Params: S; Body: { model: string; embeddings: number[][]; crops?: string[] } }>(
    '/galleries/:gallery/subjects/:subject/embeddings',
    {
      config: { access: 'admin' },
      preValidation: idParams,
      // maxImages embeddings of up to 512 numbers and their PNG crops, as JSON: well under this.
      bodyLimit: 4 * 1024 * 1024,
      schema: {
        summary:
          'Enrolls faces by their embeddings (made on the client: no photo is sent), all in one ' +
          'transaction; refused whole (nothing stored) if any embedding or crop is',
        description:
          "The model must be the gallery's (409 otherwise). crops: the aligned face crops as base64 PNG at " +
          "the model's input size, one per embedding, only when the client chooses to store thumbnails " +
          '(without them a face shows no crop and cannot be reindexed). No quality gate: the client has the photo.',
        tags,
        params: subjectParams,
        body: {
          type: 'object',
          required: ['model', 'embeddings'],
          additionalProperties: false,
          properties: {
            model,
            embeddings: embeddings(maxImages),
            crops: {
              type: 'array',
              maxItems: maxImages,
              items: {
                type: 'string',
                contentEncoding: 'base64',
                maxLength: Math.ceil((MAX_CROP_BYTES * 4) / 3) + 64,
              },
            },
          },
        },
        response: errorResponses,
      },
    },
    async (req, reply) => {
      const { gallery, subject } = req.params;
      const { model: m, embeddings: embs, crops } = req.body;
      const pngs = crops?.map(
        (c, i) => (imageFromField(c, `crops[${i}]`, MAX_CROP_BYTES) as { bytes: Uint8Array }).bytes,
      );
      const r = await within(() =>
        service.enrollEmbeddings(gallery, subject, m, embs, { crops: pngs, maxEmbeddings: maxImages }),
      );
      return reply.code(201).send(r);
    },
  );

  app.post<{
    Params: G;
    Body: {
      model: string;
      embeddings: number[][];
      k?: number;
      threshold?: number;
      fpir?: number;
      aggregate?: Aggregate;
      imageSha256?: string;
      boxes?: PhotoBox[];
    };
  }>(
    '/galleries/:gallery/identify/embeddings',
    {
      config: { access: 'recognise' },
      bodyLimit: 1024 * 1024,
      schema: {
        summary: 'Who are these faces? Each embedding (made on the client) named or unknown, with candidates',
        description:
          'The same threshold rule, FAR and FPIR as identify by photo. imageSha256 (of the photo the ' +
          "client embedded) and boxes (one per embedding, in that photo's pixels) let corrections of the photo apply.",
        tags,
        params: galleryParams,
        body: {
          type: 'object',
          required: ['model', 'embeddings'],
          additionalProperties: false,
          properties: {
            model,
            embeddings: embeddings(service.maxFaces),
            k: { type: 'integer', minimum: 1, maximum: 100 },
            threshold,
            fpir: { type: 'number', exclusiveMinimum: 0, exclusiveMaximum: 1 },
            aggregate: { type: 'string', enum: ['max', 'mean'] },
            imageSha256: { type: 'string', pattern: '^[0-9a-f]{64}$' },
            boxes: { type: 'array', maxItems: service.maxFaces, items: box },
          },
        },
        response: errorResponses,
      },
    },
    async (req) => {
      const { model: m, embeddings: embs, ...opts } = req.body;
      await checkIdentifyThreshold(req, service, req.params.gallery, opts);
      return within(() => service.identifyEmbeddings(req.params.gallery, m, embs, opts));
    },
  );
}
