/**
 * Clusters (unnamed people found by clustering) as the People tab edits them: list, name, merge,
 * split, move one face. Reading needs a `recognise` key, every edit an admin key. The faces and
 * crops of a cluster are served by the subject routes (a cluster is a subject of kind 'cluster').
 * Each edit also records what the person decided (face links, see src/gallery/clusters.ts).
 */
import type { FastifyInstance } from 'fastify';
import { mergeClusters, moveFace, nameCluster, splitCluster, type JsonValue } from '../gallery/index.js';
import type { ServerContext } from './context.js';
import { errorResponse, galleryParams, idParams, subjectBody, subjectParams } from './schemas.js';

type G = { gallery: string };
type S = G & { subject: number };
type F = G & { face: number };

const errors = { '4xx': errorResponse, '5xx': errorResponse };
const id = { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER } as const;
const ids = { type: 'array', minItems: 1, maxItems: 100_000, items: id } as const;

export function clusterRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const { service } = ctx;
  const tags = ['clusters'];
  const faceParams = {
    type: 'object',
    required: ['gallery', 'face'],
    properties: { ...galleryParams.properties, face: id },
  } as const;

  app.get<{ Params: G }>(
    '/galleries/:gallery/clusters',
    {
      config: { access: 'recognise' },
      schema: {
        summary: 'Unnamed clusters of a gallery (identify never answers them)',
        tags,
        params: galleryParams,
        response: errors,
      },
    },
    async (req) => {
      await service.gallery(req.params.gallery);
      return { clusters: await service.store.listSubjects(req.params.gallery, { kind: 'cluster' }) };
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
        response: errors,
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
        response: errors,
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
        response: errors,
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
        response: errors,
      },
    },
    async (req) => {
      await service.gallery(req.params.gallery);
      return moveFace(service.store, req.params.gallery, req.params.face, req.body.subjectId);
    },
  );
}
