/** Galleries, subjects and faces: CRUD, enroll, identify, verify against a subject. */
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Aggregate, Face, JsonValue, PurgeStatus } from '../gallery/index.js';
import { ArcfaceError } from '../errors.js';
import type { ServerContext } from './context.js';
import { checkIdentifyThreshold, checkVerifyThreshold } from './threshold_policy.js';
import { imageFromField } from './uploads.js';
import { GALLERY_NAME } from '../service/names.js';
import {
  errorResponses,
  faceParams,
  galleryParams,
  idParams,
  image,
  imageConsumes,
  minQuality,
  subjectBody,
  subjectParams,
  threshold,
} from './schemas.js';

type G = { gallery: string };
type S = G & { subject: number };
type F = S & { face: number };

const aggregate = { type: 'string', enum: ['max', 'mean'] } as const;
const faceInfo = ({ embedding: _e, ...f }: Face) => f;

/** A delete's answer: 204 once its bytes are gone from the files; 202 while a reader holds back the purge. */
const deleteResponses = {
  ...errorResponses,
  202: {
    description: 'Deleted; another process reading the store still holds the old bytes, purged when it ends',
    type: 'object',
    properties: { deleted: { type: 'boolean' }, purged: { type: 'boolean' }, message: { type: 'string' } },
  },
} as const;
function deleted(reply: FastifyReply, purge: PurgeStatus | null | undefined) {
  if (!purge || purge.purged) return reply.code(204).send();
  return reply.code(202).send({ deleted: true, purged: false, message: purge.reason });
}

export function galleryRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const { service, maxUploadBytes: max, maxImages, within } = ctx;
  const tags = ['galleries'];

  app.get(
    '/galleries',
    { config: { access: 'recognise' }, schema: { summary: 'All galleries', tags } },
    async () => ({
      galleries: await service.store.listGalleries(),
    }),
  );

  app.post<{ Body: { name: string } }>(
    '/galleries',
    {
      config: { access: 'admin' },
      schema: {
        summary: "A new gallery, bound to the server's recognition model",
        tags,
        body: {
          type: 'object',
          required: ['name'],
          additionalProperties: false,
          properties: { name: { type: 'string', pattern: GALLERY_NAME.source } },
        },
        response: errorResponses,
      },
    },
    async (req, reply) => reply.code(201).send(await service.createGallery(req.body.name)),
  );

  app.get<{ Params: G }>(
    '/galleries/:gallery',
    {
      config: { access: 'recognise' },
      schema: { summary: 'One gallery', tags, params: galleryParams, response: errorResponses },
    },
    async (req) => service.gallery(req.params.gallery),
  );

  app.delete<{ Params: G }>(
    '/galleries/:gallery',
    {
      config: { access: 'admin' },
      schema: {
        summary: 'Deletes a gallery with every subject, embedding and crop, for good',
        tags,
        params: galleryParams,
        response: deleteResponses,
      },
    },
    async (req, reply) => deleted(reply, await service.deleteGallery(req.params.gallery)),
  );

  app.get<{ Params: G }>(
    '/galleries/:gallery/subjects',
    {
      config: { access: 'recognise' },
      schema: { summary: 'Subjects of a gallery', tags, params: galleryParams, response: errorResponses },
    },
    async (req) => {
      await service.gallery(req.params.gallery);
      return { subjects: await service.store.listSubjects(req.params.gallery) };
    },
  );

  app.post<{ Params: G; Body: { name: string; externalId?: string; metadata?: JsonValue } }>(
    '/galleries/:gallery/subjects',
    {
      config: { access: 'admin' },
      // Names and metadata (16 KB of JSON, see gallery/metadata.ts) with room for escapes: no more.
      bodyLimit: 256 * 1024,
      schema: {
        summary: 'A new subject (a person); enroll faces to it next',
        tags,
        params: galleryParams,
        body: subjectBody,
        response: errorResponses,
      },
    },
    async (req, reply) => reply.code(201).send(await service.addSubject(req.params.gallery, req.body)),
  );

  app.get<{ Params: S }>(
    '/galleries/:gallery/subjects/:subject',
    {
      config: { access: 'recognise' },
      preValidation: idParams,
      schema: { summary: 'One subject', tags, params: subjectParams, response: errorResponses },
    },
    async (req) => service.subject(req.params.gallery, req.params.subject),
  );

  app.delete<{ Params: S }>(
    '/galleries/:gallery/subjects/:subject',
    {
      config: { access: 'admin' },
      preValidation: idParams,
      schema: {
        summary: 'Deletes a subject with its embeddings and crops, for good',
        tags,
        params: subjectParams,
        response: deleteResponses,
      },
    },
    async (req, reply) => deleted(reply, await service.deleteSubject(req.params.gallery, req.params.subject)),
  );

  app.get<{ Params: S }>(
    '/galleries/:gallery/subjects/:subject/faces',
    {
      config: { access: 'recognise' },
      preValidation: idParams,
      schema: {
        summary: "A subject's enrolled faces",
        tags,
        params: subjectParams,
        response: errorResponses,
      },
    },
    async (req) => {
      await service.subject(req.params.gallery, req.params.subject);
      return { faces: (await service.store.listFaces(req.params.gallery, req.params.subject)).map(faceInfo) };
    },
  );

  app.post<{ Params: S; Body: { images: string[]; partial?: boolean; minQuality?: number } }>(
    '/galleries/:gallery/subjects/:subject/faces',
    {
      config: { access: 'admin' },
      preValidation: idParams,
      schema: {
        summary:
          'Enrolls the largest face of each image, all in one transaction; any failed image refuses the ' +
          'request with every failure listed, unless partial is true. A face below minQuality is a ' +
          'failure (422 LOW_QUALITY, the message names the measure, its value and its limit)',
        tags,
        consumes: imageConsumes,
        params: subjectParams,
        body: {
          type: 'object',
          required: ['images'],
          properties: {
            images: { type: 'array', minItems: 1, maxItems: maxImages, items: image },
            partial: { type: 'boolean' },
            minQuality,
          },
        },
        response: errorResponses,
      },
    },
    async (req, reply) => {
      const { gallery, subject } = req.params;
      const imgs = req.body.images.map((s, i) => imageFromField(s, `images[${i}]`, max));
      const { partial, minQuality: mq } = req.body;
      const r = await within((signal) =>
        service.enroll(gallery, { id: subject }, imgs, { partial, minQuality: mq, signal }),
      );
      return reply.code(201).send(r);
    },
  );

  app.get<{ Params: F }>(
    '/galleries/:gallery/subjects/:subject/faces/:face/crop',
    {
      config: { access: 'recognise' },
      preValidation: idParams,
      schema: { summary: "The face's aligned crop (PNG)", tags, params: faceParams, produces: ['image/png'] },
    },
    async (req, reply) => {
      const { gallery, subject, face } = req.params;
      await service.subject(gallery, subject);
      const faces = await service.store.listFaces(gallery, subject);
      if (!faces.some((f) => f.id === face))
        throw new ArcfaceError('NOT_FOUND', `subject ${subject} of gallery '${gallery}' has no face ${face}`);
      const png = await service.store.getCrop(gallery, face);
      if (!png) throw new ArcfaceError('NOT_FOUND', `face ${face} was enrolled without a crop`);
      return reply.type('image/png').header('cache-control', 'private, max-age=3600').send(Buffer.from(png));
    },
  );

  app.delete<{ Params: F }>(
    '/galleries/:gallery/subjects/:subject/faces/:face',
    {
      config: { access: 'admin' },
      preValidation: idParams,
      schema: {
        summary: 'Deletes one face (embedding and crop), for good',
        tags,
        params: faceParams,
        response: deleteResponses,
      },
    },
    async (req, reply) => {
      const { gallery, subject, face } = req.params;
      await service.subject(gallery, subject);
      const faces = await service.store.listFaces(gallery, subject);
      if (!faces.some((f) => f.id === face))
        throw new ArcfaceError('NOT_FOUND', `subject ${subject} of gallery '${gallery}' has no face ${face}`);
      await service.store.deleteFace(gallery, face);
      return deleted(reply, service.store.purgeStatus?.());
    },
  );

  app.post<{
    Params: G;
    Body: {
      image: string;
      k?: number;
      threshold?: number;
      fpir?: number;
      aggregate?: Aggregate;
      minQuality?: number;
    };
  }>(
    '/galleries/:gallery/identify',
    {
      config: { access: 'recognise' },
      schema: {
        summary: 'Who is in this photo? Every face, each named or unknown, with its candidates',
        description:
          'Each face carries quality, and lowQuality/lowQualityMeasure when below minQuality: still answered',
        tags,
        consumes: imageConsumes,
        params: galleryParams,
        body: {
          type: 'object',
          required: ['image'],
          properties: {
            image,
            k: { type: 'integer', minimum: 1, maximum: 100 },
            threshold,
            fpir: {
              type: 'number',
              exclusiveMinimum: 0,
              exclusiveMaximum: 1,
              description:
                'without threshold: the chance a stranger is named that the threshold is chosen for, from the model FAR table and the gallery size (default 0.01)',
            },
            aggregate,
            minQuality,
          },
        },
        response: errorResponses,
      },
    },
    async (req) => {
      const { image: img, ...opts } = req.body;
      await checkIdentifyThreshold(req, service, req.params.gallery, opts);
      const image = imageFromField(img, 'image', max);
      return within((signal) => service.identify(req.params.gallery, image, { ...opts, signal }));
    },
  );

  app.post<{ Params: S; Body: { image: string; threshold?: number; aggregate?: Aggregate } }>(
    '/galleries/:gallery/subjects/:subject/verify',
    {
      config: { access: 'recognise' },
      preValidation: idParams,
      schema: {
        summary: "1:1: is the photo's largest face this subject?",
        tags,
        consumes: imageConsumes,
        params: subjectParams,
        body: { type: 'object', required: ['image'], properties: { image, threshold, aggregate } },
        response: errorResponses,
      },
    },
    async (req) => {
      const { image: img, ...opts } = req.body;
      const { gallery, subject } = req.params;
      checkVerifyThreshold(req, service, opts.threshold);
      const image = imageFromField(img, 'image', max);
      return within((signal) => service.verifySubject(gallery, subject, image, { ...opts, signal }));
    },
  );
}
