/** Stateless routes: health, model info, detect, embed, verify two images. */
import type { FastifyInstance } from 'fastify';
import type { Face } from '../face/types.js';
import type { RecognitionService } from '../service/service.js';
import type { ServerContext } from './context.js';
import { imageFromField } from './uploads.js';
import { errorResponse, image, imageConsumes, threshold } from './schemas.js';

export const faceJson = (f: Face) => ({ box: f.box, score: f.score, landmarks: f.landmarks });

function modelInfo(service: RecognitionService) {
  const m = service.recognizer.manifest;
  return {
    recognizer: {
      name: m.name,
      dim: m.output?.dim ?? null,
      input: { width: m.input.width, height: m.input.height },
      licence: m.licence,
      trainingData: m.trainingData,
      researchOnly: m.researchOnly,
      thresholds: { ...(m.thresholds ?? {}), inEffect: service.recognizer.threshold ?? null },
      thresholdsSource: m.thresholdsSource ?? null,
      accuracy: m.accuracy ?? null,
      description: m.description ?? null,
    },
    detector: { spec: service.recognizer.detectorSpec },
    limits: { maxFaces: service.maxFaces, maxPixels: service.maxPixels },
  };
}

const errors = { '4xx': errorResponse, '5xx': errorResponse };

export function recognitionRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const { service, maxUploadBytes: max, within } = ctx;

  app.get(
    '/health',
    {
      config: { access: 'public' },
      schema: { summary: 'The models are loaded and the store answers', tags: ['service'] },
    },
    async () => {
      await service.store.listGalleries();
      return {
        status: 'ok',
        model: service.model,
        detector: service.recognizer.detectorSpec,
        store: service.store.location.split(':')[0],
      };
    },
  );

  app.get(
    '/models',
    {
      config: { access: 'recognise' },
      schema: {
        summary: 'The recogniser and detector in use: licence, training data, thresholds',
        tags: ['service'],
      },
    },
    async () => modelInfo(service),
  );

  app.post<{ Body: { image: string } }>(
    '/detect',
    {
      config: { access: 'recognise' },
      schema: {
        summary: 'Every face in an image (largest first): box, score, five landmarks',
        tags: ['recognition'],
        consumes: imageConsumes,
        body: { type: 'object', required: ['image'], properties: { image } },
        response: errors,
      },
    },
    async (req) => {
      const r = await within(service.detect(imageFromField(req.body.image, 'image', max)));
      return { width: r.width, height: r.height, facesFound: r.found, faces: r.faces.map(faceJson) };
    },
  );

  app.post<{ Body: { image: string } }>(
    '/embed',
    {
      config: { access: 'recognise' },
      schema: {
        summary: 'Every face in an image with its L2-normalised embedding',
        tags: ['recognition'],
        consumes: imageConsumes,
        body: { type: 'object', required: ['image'], properties: { image } },
        response: errors,
      },
    },
    async (req) => {
      const r = await within(service.embed(imageFromField(req.body.image, 'image', max)));
      return {
        model: service.model,
        width: r.width,
        height: r.height,
        facesFound: r.found,
        faces: r.faces.map((f) => ({ ...faceJson(f.face), embedding: Array.from(f.embedding) })),
      };
    },
  );

  app.post<{ Body: { a: string; b: string; threshold?: number } }>(
    '/verify',
    {
      config: { access: 'recognise' },
      schema: {
        summary: '1:1: are the largest faces of two images the same person?',
        tags: ['recognition'],
        consumes: imageConsumes,
        body: { type: 'object', required: ['a', 'b'], properties: { a: image, b: image, threshold } },
        response: errors,
      },
    },
    async (req) => {
      const { a, b, threshold: t } = req.body;
      const v = await within(service.verify(imageFromField(a, 'a', max), imageFromField(b, 'b', max), t));
      return { ...v, model: service.model, faces: v.faces.map(faceJson) };
    },
  );
}
