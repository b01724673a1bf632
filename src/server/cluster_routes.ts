/**
 * Clusters (unnamed people found by clustering) as the People tab makes and edits them: photos
 * clustered into a gallery, list, name, merge, split, move one face. Reading needs a `recognise`
 * key, clustering and every edit an admin key. The faces and crops of a cluster are served by the
 * subject routes (a cluster is a subject of kind 'cluster'). Each edit also records what the
 * person decided (face links, see src/gallery/clusters.ts), so later clustering keeps it.
 */
import type { FastifyInstance } from 'fastify';
import { mergeClusters, moveFace, nameCluster, splitCluster, type JsonValue } from '../gallery/index.js';
import type { ServerContext } from './context.js';
import {
  bodyId,
  errorResponses,
  galleryParams,
  idParams,
  image,
  imageConsumes,
  minQuality,
  subjectBody,
  subjectParams,
} from './schemas.js';
import { imageFromField } from './uploads.js';

type G = { gallery: string };
type S = G & { subject: number };
type F = G & { face: number };

const id = bodyId;
const ids = { type: 'array', minItems: 1, maxItems: 100_000, items: id } as const;

export function clusterRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const { service, maxUploadBytes: max, maxImages, within } = ctx;
  const tags = ['clusters'];
  const faceParams = {
    type: 'object',
    required: ['gallery', 'face'],
    properties: { ...galleryParams.properties, face: id },
  } as const;

  app.post<{
    Params: G;
    Body: { image: string | string[]; partial?: boolean; minQuality?: number; minFaces?: number };
  }>(
    '/galleries/:gallery/cluster',
    {
      config: { access: 'admin' },
      schema: {
        summary: "Clusters every face of the photos into the gallery's people, stored (incremental)",
        description:
          'Each face joins an existing subject (a cluster, or a named person), makes a new cluster with ' +
          'other faces, or is kept as a singleton (a one-face cluster). Photos the gallery already holds ' +
          '(same bytes) are skipped as duplicates; faces below minQuality are answered but not stored. ' +
          'Everything is stored in one transaction; an unreadable image refuses the request with every ' +
          'failure listed (nothing stored), unless partial is true. Faces are named image[i], i the ' +
          "upload's position. Answer: {gallery, model, faces: [{name, box, detScore, quality, lowQuality, " +
          'lowQualityMeasure, outcome (joined|newCluster|singleton|lowQuality), faceId, subjectId, kind, ' +
          'singleton}], duplicates, failures, newClusters, removedClusters, summary}',
        tags,
        consumes: imageConsumes,
        params: galleryParams,
        body: {
          type: 'object',
          required: ['image'],
          properties: {
            image: {
              description: 'one image, or several (repeat the multipart field, or a JSON array)',
              anyOf: [image, { type: 'array', minItems: 1, maxItems: maxImages, items: image }],
            },
            partial: { type: 'boolean' },
            minQuality,
            minFaces: {
              type: 'integer',
              minimum: 1,
              maximum: 1000,
              description: 'a new cluster needs this many faces, fewer stay singletons (default 3)',
            },
          },
        },
        response: errorResponses,
      },
    },
    async (req) => {
      const { gallery } = req.params;
      const given = req.body.image;
      const imgs = (Array.isArray(given) ? given : [given]).map((s, i) =>
        imageFromField(s, `image[${i}]`, max),
      );
      const { partial, minQuality: mq, minFaces } = req.body;
      return within((signal) =>
        service.clusterPhotos(gallery, imgs, { partial, minQuality: mq, minFaces, signal }),
      );
    },
  );

  app.get<{ Params: G; Querystring: { singletons?: 'true' | 'false' } }>(
    '/galleries/:gallery/clusters',
    {
      config: { access: 'recognise' },
      schema: {
        summary: 'Unnamed clusters of a gallery (identify never answers them), and how many singletons',
        description:
          'clusters: those of 2+ faces (all, one-face clusters too, with singletons=true); ' +
          'singletons: the number of one-face clusters',
        tags,
        params: galleryParams,
        querystring: {
          type: 'object',
          properties: { singletons: { type: 'string', enum: ['true', 'false'] } },
        },
        response: errorResponses,
      },
    },
    async (req) => {
      await service.gallery(req.params.gallery);
      const all = await service.store.listSubjects(req.params.gallery, { kind: 'cluster' });
      return {
        clusters: req.query.singletons === 'true' ? all : all.filter((c) => c.faces >= 2),
        singletons: all.filter((c) => c.faces < 2).length,
      };
    },
  );

  app.post<{ Params: S; Body: { name: string; externalId?: string; metadata?: JsonValue } }>(
    '/galleries/:gallery/clusters/:subject/name',
    {
      config: { access: 'admin' },
      preValidation: idParams,
      bodyLimit: 256 * 1024,
      schema: {
        summary:
          "Names a cluster: it becomes a person; with an existing person's externalId, joins that person",
        tags,
        params: subjectParams,
        body: subjectBody,
        response: errorResponses,
      },
    },
    async (req) => {
      await service.gallery(req.params.gallery);
      return nameCluster(service.store, req.params.gallery, req.params.subject, req.body);
    },
  );

  app.post<{ Params: S; Body: { clusters: number[] } }>(
    '/galleries/:gallery/subjects/:subject/merge',
    {
      config: { access: 'admin' },
      preValidation: idParams,
      schema: {
        summary: 'Merges clusters into this subject (a cluster or a person); the merged clusters go',
        tags,
        params: subjectParams,
        body: {
          type: 'object',
          required: ['clusters'],
          additionalProperties: false,
          properties: { clusters: ids },
        },
        response: errorResponses,
      },
    },
    async (req) => {
      await service.gallery(req.params.gallery);
      return mergeClusters(service.store, req.params.gallery, req.params.subject, req.body.clusters);
    },
  );

  app.post<{ Params: S; Body: { faces: number[] } }>(
    '/galleries/:gallery/subjects/:subject/split',
    {
      config: { access: 'admin' },
      preValidation: idParams,
      schema: {
        summary: 'Splits chosen faces off this subject into a new cluster, kept apart from the rest',
        tags,
        params: subjectParams,
        body: {
          type: 'object',
          required: ['faces'],
          additionalProperties: false,
          properties: { faces: ids },
        },
        response: errorResponses,
      },
    },
    async (req, reply) => {
      await service.gallery(req.params.gallery);
      const made = await splitCluster(service.store, req.params.gallery, req.params.subject, req.body.faces);
      return reply.code(201).send(made);
    },
  );

  app.post<{ Params: F; Body: { subjectId: number } }>(
    '/galleries/:gallery/faces/:face/move',
    {
      config: { access: 'admin' },
      preValidation: idParams,
      schema: {
        summary: 'Moves one face to another subject (leaving a person also records "not this person")',
        tags,
        params: faceParams,
        body: {
          type: 'object',
          required: ['subjectId'],
          additionalProperties: false,
          properties: { subjectId: id },
        },
        response: errorResponses,
      },
    },
    async (req) => {
      await service.gallery(req.params.gallery);
      return moveFace(service.store, req.params.gallery, req.params.face, req.body.subjectId);
    },
  );
}
