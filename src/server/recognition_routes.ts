/** Stateless routes: health, model info, detect, embed, verify two images. */
import type { FastifyInstance } from 'fastify';
import type { Face } from '../face/types.js';
import { decodeImage, encodeImage } from '../image/decode.js';
import type { QualifiedFace, RecognitionService } from '../service/service.js';
import type { ServerContext } from './context.js';
import { imageFromField } from './uploads.js';
import { errorResponses, image, imageConsumes, threshold, verifyCrops } from './schemas.js';

export const faceJson = (f: Face) => ({ box: f.box, score: f.score, landmarks: f.landmarks });
const qualifiedJson = (f: QualifiedFace) => ({ ...faceJson(f), quality: f.quality });

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
      // A fine-tuned model names what it started from, with that model's own terms.
      base: m.base ?? null,
      thresholds: { ...(m.thresholds ?? {}), inEffect: service.recognizer.threshold ?? null },
      thresholdsSource: m.thresholdsSource ?? null,
      // Identification thresholds follow the gallery's size: the FPIR target over the FAR table.
      identify: identifyRule(service),
      alignment: m.alignment ?? { template: 'arcface' },
      accuracy: m.accuracy ?? null,
      description: m.description ?? null,
    },
    detector: { spec: service.recognizer.detectorSpec },
    limits: { maxFaces: service.maxFaces, maxPixels: service.maxPixels, maxSide: service.maxSide },
  };
}

/** How identify picks its threshold, with the thresholds for a few gallery sizes as examples. */
function identifyRule(service: RecognitionService) {
  const rec = service.recognizer;
  const table = rec.farTable;
  const at = (n: number) => rec.openSetThreshold(n);
  return {
    rule: at(1).rule,
    fpir: at(1).rule === 'fpir' ? at(1).fpir : null,
    thresholdByEnrolledFaces: Object.fromEntries([1, 10, 100, 1000, 10000].map((n) => [n, at(n).threshold])),
    farTable: table
      ? { far: table.far, cosine: table.cosine, measuredTo: table.measuredTo, pairs: table.pairs }
      : null,
  };
}

/**
 * The aligned crop (the model's input, e.g. 112x112) of `face` in an image already accepted by the
 * service, as a PNG data URL: the web page shows what was compared. The image is decoded a second
 * time, only when asked for, so the service's verify stays as it is.
 */
async function cropDataUrl(
  service: RecognitionService,
  bytes: Uint8Array,
  face: Face,
  label: string,
): Promise<string> {
  const img = await decodeImage(bytes, { maxPixels: service.maxPixels, name: label });
  const png = await encodeImage(service.recognizer.align(img, face), 'png');
  return `data:image/png;base64,${png.toString('base64')}`;
}

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
        summary: 'Every face in an image (largest first): box, score, five landmarks, quality',
        description:
          'quality: {score (combined, 0..1), interOcular (px), sharpness, yaw, pitch (degrees), detScore, weakest}',
        tags: ['recognition'],
        consumes: imageConsumes,
        body: { type: 'object', required: ['image'], properties: { image } },
        response: errorResponses,
      },
    },
    async (req) => {
      const image = imageFromField(req.body.image, 'image', max);
      const r = await within((signal) => service.detect(image, { signal }));
      return { width: r.width, height: r.height, facesFound: r.found, faces: r.faces.map(qualifiedJson) };
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
        response: errorResponses,
      },
    },
    async (req) => {
      const image = imageFromField(req.body.image, 'image', max);
      const r = await within((signal) => service.embed(image, { signal }));
      return {
        model: service.model,
        width: r.width,
        height: r.height,
        facesFound: r.found,
        faces: r.faces.map((f) => ({ ...faceJson(f.face), embedding: Array.from(f.embedding) })),
      };
    },
  );

  app.post<{ Body: { a: string; b: string; threshold?: number; crops?: boolean } }>(
    '/verify',
    {
      config: { access: 'recognise' },
      schema: {
        summary: '1:1: are the largest faces of two images the same person?',
        tags: ['recognition'],
        consumes: imageConsumes,
        body: {
          type: 'object',
          required: ['a', 'b'],
          properties: { a: image, b: image, threshold, crops: verifyCrops },
        },
        response: errorResponses,
      },
    },
    async (req) => {
      const { a, b, threshold: t, crops } = req.body;
      const [ia, ib] = [imageFromField(a, 'a', max), imageFromField(b, 'b', max)];
      const v = await within((signal) => service.verify(ia, ib, t, { signal }));
      const out = { ...v, model: service.model, faces: v.faces.map(faceJson) };
      if (!crops) return out;
      const pngs = await within(() =>
        Promise.all([
          cropDataUrl(service, (ia as { bytes: Uint8Array }).bytes, v.faces[0], 'a'),
          cropDataUrl(service, (ib as { bytes: Uint8Array }).bytes, v.faces[1], 'b'),
        ]),
      );
      return { ...out, crops: pngs };
    },
  );
}
