/**
 * The HTTP API (`arcface serve`): a Fastify app over a RecognitionService. Every route validates its
 * input with a JSON schema (the same schemas make /openapi.json), images come as multipart files or
 * base64 JSON, every error is `{"error": {"code", "message"}}` with its status (errors.ts), and keys
 * are checked per route (auth.ts). buildServer does not listen: tests use `inject`, listen.ts binds.
 */
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import multipart from '@fastify/multipart';
import swagger from '@fastify/swagger';
import type { KeyStore } from '../service/keys.js';
import type { RecognitionService } from '../service/service.js';
import { VERSION } from '../version.js';
import type { ServerContext } from './context.js';
import { toHttpError } from './errors.js';
import { guard, type GuardOptions } from './guard.js';
import { galleryRoutes } from './gallery_routes.js';
import { correctionRoutes } from './correction_routes.js';
import { embeddingRoutes } from './embedding_routes.js';
import { clusterRoutes } from './cluster_routes.js';
import { installLimits, socketTimeoutMs } from './limits.js';
import { libRoutes } from './lib_routes.js';
import { recognitionRoutes } from './recognition_routes.js';
import { multipartError, multipartToJson } from './uploads.js';
import { webRoutes } from './web.js';

export interface ServerOptions extends GuardOptions {
  service: RecognitionService;
  keys: KeyStore;
  /** Bytes of one uploaded image (default 10 MB). */
  maxUploadBytes?: number;
  /** Images in one enroll request (default 20). */
  maxImages?: number;
  /** Milliseconds a request may take, receiving and working (default 60 s). */
  requestTimeoutMs?: number;
  /** Requests working at once, decoding included (default 2), and waiting beyond those (default 16). */
  concurrency?: number;
  queue?: number;
  /** Fastify's logger: true, pino options, or off (the default). */
  logger?: FastifyServerOptions['logger'];
  /** The web page's folder (default src/server/web). */
  webDir?: string | null;
}

export const DEFAULT_MAX_UPLOAD = 10 * 1024 * 1024;

export async function buildServer(opts: ServerOptions): Promise<FastifyInstance> {
  const maxUploadBytes = opts.maxUploadBytes ?? DEFAULT_MAX_UPLOAD;
  const maxImages = opts.maxImages ?? 20;
  const timeout = opts.requestTimeoutMs ?? 60_000;
  // A JSON body carries base64 (4/3 of the bytes): room for the two images of /verify.
  const bodyLimit = Math.ceil((maxUploadBytes * 2 * 4) / 3) + 64 * 1024;
  const app = Fastify({
    logger: opts.logger ?? false,
    bodyLimit,
    requestTimeout: timeout,
    connectionTimeout: socketTimeoutMs(timeout),
    // No coercion: JSON is taken as sent (null is not 0, 123 is not "123"); multipart text fields and
    // URL ids are converted strictly where they are read (uploads.ts, schemas.ts).
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false } },
  });
  await app.register(multipart, {
    attachFieldsToBody: 'keyValues',
    // busboy never finishes when a part it skips (no Content-Disposition...) outgrows this mark and
    // ends in the same chunk: the request hung. Parts are buffered whole anyway (keyValues).
    fileHwm: bodyLimit,
    limits: {
      fileSize: maxUploadBytes,
      files: maxImages,
      fields: 20,
      fieldSize: 64 * 1024,
      parts: maxImages + 20,
    },
  });
  await app.register(swagger, {
    openapi: {
      info: {
        title: 'arcface recognition API',
        version: VERSION,
        description:
          'Face detection, embedding, verification and open-set identification against enrolled galleries. ' +
          'Send an API key as x-api-key (or Authorization: Bearer); recognise keys read, admin keys also write.',
      },
      components: {
        securitySchemes: {
          apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key' },
          bearer: { type: 'http', scheme: 'bearer' },
        },
      },
      security: [{ apiKey: [] }, { bearer: [] }],
    },
  });
  guard(app, opts.keys, opts);
  const within = installLimits(app, { timeoutMs: timeout, concurrency: opts.concurrency, queue: opts.queue });
  app.addHook('preValidation', multipartToJson);
  app.setErrorHandler((err, req, reply) => {
    const { status, body } = toHttpError(multipartError(err, req), [opts.service.store.location]);
    if (status >= 500) req.log.error(err);
    return reply.code(status).send(body);
  });
  app.setNotFoundHandler((req, reply) =>
    reply
      .code(404)
      .send({ error: { code: 'NOT_FOUND', message: `no route ${req.method} ${req.url.split('?')[0]}` } }),
  );

  const ctx: ServerContext = { service: opts.service, maxUploadBytes, maxImages, within };
  recognitionRoutes(app, ctx);
  galleryRoutes(app, ctx);
  embeddingRoutes(app, ctx);
  correctionRoutes(app, ctx);
  clusterRoutes(app, ctx);
  webRoutes(app, opts.webDir);
  libRoutes(app, ctx);
  app.get('/openapi.json', { config: { access: 'public' }, schema: { hide: true } }, async () =>
    app.swagger(),
  );
  await app.ready();
  return app;
}
