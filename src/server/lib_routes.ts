/**
 * /lib/: what a page needs to recognise faces on the user's device (src/browser/), all from this
 * server, never a CDN: the library (/lib/arcface.js and its chunks, browser_bundle.ts),
 * onnxruntime-web's wasm from node_modules (/lib/ort/FILE), and the models this server runs, as the
 * very ONNX graphs it runs (/lib/models/): the recogniser (`NAME.onnx`, built in memory from tfjs
 * weights like the server's own), its manifest with the thresholds and FAR table in effect here
 * (`NAME.json`), face-api's detector nets (`faceapi-ssd.onnx`, `faceapi-landmarks.onnx`,
 * `faceapi-tiny.onnx`) and `index.json` (which recogniser). Public, like the page; each file is
 * made once, on first request, and answered with a strong ETag and `no-cache` (revalidate, 304).
 * Research-only weights are not published.
 */
import { createHash } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { tfjsModelToOnnx } from '../convert/from_tfjs.js';
import { faceApiOnnx, type FaceApiNet } from '../face/detectors/faceapi_nets.js';
import type { ModelManifest } from '../models/manifest.js';
import type { FaceRecognizer } from '../pipeline/recognizer.js';
import { browserBundle } from './browser_bundle.js';
import type { ServerContext } from './context.js';
import { refuse } from './refuse.js';
import { PAGE_CSP } from './web.js';

/** onnxruntime-web's runtimes: the wasm one, and the WebGPU one (loaded only when a page asks for it). */
const ORT_FILES = [
  'ort-wasm-simd-threaded.wasm',
  'ort-wasm-simd-threaded.mjs',
  'ort-wasm-simd-threaded.asyncify.wasm',
  'ort-wasm-simd-threaded.asyncify.mjs',
];
const NETS: FaceApiNet[] = ['ssd', 'landmarks', 'tiny'];
/**
 * Scripts may run as workers (onnxruntime-web's threads load its .mjs): a worker runs under its own
 * script's policy, so they get the page's, and a cross-origin isolated page (where threads exist)
 * starts only workers that declare require-corp themselves.
 */
const WORKER_HEADERS = {
  'content-security-policy': PAGE_CSP,
  'cross-origin-embedder-policy': 'require-corp',
};

interface Made {
  type: string;
  body: Uint8Array;
  etag: string;
}

const etagOf = (body: Uint8Array) => `"${createHash('sha256').update(body).digest('hex').slice(0, 32)}"`;
const made = (type: string, body: Uint8Array): Made => ({ type, body, etag: etagOf(body) });
const json = (value: unknown) => made('application/json', new TextEncoder().encode(JSON.stringify(value)));

/** Makes each value once; a failure is not kept, so the next request tries again. */
function once<T>(make: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => {
    p ??= make().catch((err) => {
      p = undefined;
      throw err;
    });
    return p;
  };
}

function send(req: FastifyRequest, reply: FastifyReply, f: Made, headers: Record<string, string> = {}) {
  reply.headers({ etag: f.etag, 'cache-control': 'no-cache', ...headers });
  if (req.headers['if-none-match'] === f.etag) return reply.code(304).send();
  return reply.type(f.type).send(f.body);
}

/** The recogniser's ONNX bytes, as the server's Embedder opened them. */
async function recogniserOnnx(rec: FaceRecognizer): Promise<Uint8Array> {
  const m = rec.manifest;
  const path = rec.embedder.path;
  return (m.format ?? 'onnx') === 'tfjs' ? tfjsModelToOnnx(path, m.architecture!) : readFile(path);
}

/**
 * The manifest of the served ONNX graph: the model's, with the file, the thresholds, FAR table and
 * flip this server applies (a user's calibration or --threshold included), so the page's verdicts
 * are the server's; where the weights came from stays here.
 */
function servedManifest(rec: FaceRecognizer, onnx: Uint8Array): ModelManifest {
  const { builtin: _b, format: _f, architecture: _a, source: _s, size: _z, ...m } = rec.manifest;
  const verify = rec.threshold;
  const table = rec.farTable;
  return {
    ...m,
    file: `${m.name}.onnx`,
    sha256: createHash('sha256').update(onnx).digest('hex'),
    flip: rec.flip,
    ...(verify === undefined && !m.thresholds ? {} : { thresholds: { ...m.thresholds, verify } }),
    ...(table ? { impostorFar: table } : {}),
  };
}

export function libRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const route = { config: { access: 'public' as const }, schema: { hide: true } };
  const notFound = (reply: FastifyReply, what: string) =>
    refuse(reply, 404, 'NOT_FOUND', `no file '${what}'`);

  const bundle = once(async () => {
    const files = await browserBundle();
    return new Map([...files].map(([name, body]) => [name, made('text/javascript; charset=utf-8', body)]));
  });
  app.get<{ Params: { file: string } }>('/lib/:file', route, async (req, reply) => {
    const f = (await bundle()).get(req.params.file);
    if (!f) return notFound(reply, req.params.file);
    return send(req, reply, f, WORKER_HEADERS);
  });

  const require = createRequire(import.meta.url);
  app.get<{ Params: { file: string } }>('/lib/ort/:file', route, async (req, reply) => {
    const name = req.params.file;
    if (!ORT_FILES.includes(name)) return notFound(reply, name);
    const path = require.resolve(`onnxruntime-web/${name}`);
    const st = statSync(path);
    const etag = `"${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`;
    reply.headers({ etag, 'cache-control': 'no-cache' });
    if (req.headers['if-none-match'] === etag) return reply.code(304).send();
    const script = name.endsWith('.mjs');
    if (script) reply.headers(WORKER_HEADERS);
    return reply
      .type(script ? 'text/javascript; charset=utf-8' : 'application/wasm')
      .header('content-length', st.size)
      .send(createReadStream(path));
  });

  const rec = () => ctx.service.recognizer;
  const nets = new Map(
    NETS.map((net) => [
      `faceapi-${net}.onnx`,
      once(async () => made('application/octet-stream', await faceApiOnnx(net))),
    ]),
  );
  const recogniser = once(async () => {
    const r = rec();
    const onnx = await recogniserOnnx(r);
    return {
      name: r.manifest.name,
      onnx: made('application/octet-stream', onnx),
      manifest: json(servedManifest(r, onnx)),
    };
  });
  app.get<{ Params: { file: string } }>('/lib/models/:file', route, async (req, reply) => {
    const file = req.params.file;
    const r = rec();
    const name = r.manifest.name;
    if (file === 'index.json')
      return send(
        req,
        reply,
        json({ recognizer: name, published: !r.manifest.researchOnly, detector: 'faceapi' }),
      );
    const net = nets.get(file);
    if (net) return send(req, reply, await net());
    if (file !== `${name}.onnx` && file !== `${name}.json`) return notFound(reply, file);
    if (r.manifest.researchOnly)
      return refuse(
        reply,
        403,
        'FORBIDDEN',
        `model ${name} is for non-commercial research only: its weights are not published to browsers`,
      );
    const m = await recogniser();
    return send(req, reply, file.endsWith('.onnx') ? m.onnx : m.manifest);
  });
}
