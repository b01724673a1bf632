/**
 * Corrections, "this face is not that subject": listed, added, removed; admin keys only (they change
 * what identify answers for everyone). One collection route rather than a route per subject, so a
 * correction names its face in whichever way the caller has it: a stored face's id, the
 * `imageSha256` and face `box` an identify answer returned (no upload again), or the photo itself.
 */
import type { FastifyInstance } from 'fastify';
import { ServiceError } from '../service/errors.js';
import type { CorrectionTarget } from '../service/service.js';
import type { PhotoBox } from '../gallery/index.js';
import type { ServerContext } from './context.js';
import { imageFromField } from './uploads.js';
import { bodyId, errorResponses, galleryParams, idParams, image } from './schemas.js';

type G = { gallery: string };
type C = G & { correction: number };

const coordinate = { type: 'number' } as const;
const box = {
  type: 'object',
  required: ['x1', 'y1', 'x2', 'y2'],
  additionalProperties: false,
  properties: { x1: coordinate, y1: coordinate, x2: coordinate, y2: coordinate },
  description: "the face's box in the photo, in pixels, as identify returned it",
} as const;
const id = bodyId;

const correction = {
  type: 'object',
  properties: {
    id,
    subjectId: id,
    faceId: { type: ['integer', 'null'] },
    imageSha256: { type: ['string', 'null'] },
    box: { ...box, type: ['object', 'null'] },
    createdAt: { type: 'string' },
  },
} as const;

export function correctionRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const { service, maxUploadBytes: max, within } = ctx;
  const tags = ['corrections'];
  const params = {
    type: 'object',
    required: ['gallery', 'correction'],
    properties: { ...galleryParams.properties, correction: id },
  } as const;

  app.get<{ Params: G }>(
    '/galleries/:gallery/corrections',
    {
      config: { access: 'admin' },
      schema: {
        summary: '"Not this person" corrections of a gallery',
        tags,
        params: galleryParams,
        response: {
          ...errorResponses,
          200: { type: 'object', properties: { corrections: { type: 'array', items: correction } } },
        },
      },
    },
    async (req) => ({ corrections: await service.corrections(req.params.gallery) }),
  );

  app.post<{
    Params: G;
    Body: { subjectId: number; faceId?: number; imageSha256?: string; box?: PhotoBox; image?: string };
  }>(
    '/galleries/:gallery/corrections',
    {
      config: { access: 'admin' },
      schema: {
        summary: 'This face is not that subject: identify never answers it for this face again',
        description:
          'Name the face by exactly one of: faceId (a stored face), imageSha256 (+ box) as identify returned ' +
          'them, or image (+ box; default its largest face). A box matches the same face re-detected ' +
          '(IoU >= 0.5); a correction without a box holds for every face of the photo.',
        tags,
        params: galleryParams,
        body: {
          type: 'object',
          required: ['subjectId'],
          additionalProperties: false,
          properties: {
            subjectId: id,
            faceId: id,
            imageSha256: { type: 'string', pattern: '^[0-9a-f]{64}$' },
            box,
            image,
          },
        },
        response: { ...errorResponses, 201: correction },
      },
    },
    async (req, reply) => {
      const { subjectId, faceId, imageSha256, box: b, image: img } = req.body;
      const given = [faceId, imageSha256, img].filter((v) => v !== undefined).length;
      if (given !== 1)
        throw new ServiceError('BAD_INPUT', 'name the face by exactly one of faceId, imageSha256 or image');
      if (faceId !== undefined && b !== undefined)
        throw new ServiceError('BAD_INPUT', 'a stored face (faceId) has its own box: give no box with it');
      const target: CorrectionTarget =
        faceId !== undefined
          ? { faceId }
          : imageSha256 !== undefined
            ? { imageSha256, box: b }
            : { image: imageFromField(img!, 'image', max), box: b };
      const made = await within((signal) =>
        service.notSubject(req.params.gallery, subjectId, target, { signal }),
      );
      return reply.code(201).send(made);
    },
  );

  app.delete<{ Params: C }>(
    '/galleries/:gallery/corrections/:correction',
    {
      config: { access: 'admin' },
      preValidation: idParams,
      schema: { summary: 'Removes a correction', tags, params, response: errorResponses },
    },
    async (req, reply) => {
      await service.deleteCorrection(req.params.gallery, req.params.correction);
      return reply.code(204).send();
    },
  );
}
