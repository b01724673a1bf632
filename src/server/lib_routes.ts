/**
 * /lib/: what a page needs to recognise faces on the user's device (src/browser/), all from this
 * server, never a CDN: the library (/lib/arcface.js and its chunks, browser_bundle.ts),
 * onnxruntime-web's wasm from node_modules (/lib/ort/FILE), and the models this server runs, as the
 * very ONNX graphs it runs (/lib/models/): the recogniser (`NAME.onnx`, built in memory from tfjs
 * weights like the server's own), its manifest with the thresholds and FAR table in effect here
 * (`NAME.json`), face-api's detector nets (`faceapi-ssd.onnx`, `faceapi-landmarks.onnx`,
 * `faceapi-tiny.onnx`) and `index.json` (which recogniser). Public, like the page; each file is
 * made once, on first request, kept in memory, gzipped for clients that take it, and answered with
 * a strong ETag and `no-cache` (revalidate, 304). Research-only weights are not published.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
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
  /** The body gzipped, made on first ask: the wasm and float32 weights shrink 3.5x (60 MB to 17). */
  gzipped: () => Promise<Uint8Array>;
}

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

const gzipAsync = promisify(gzip);
const made = (type: string, body: Uint8Array): Made => ({
  type,
  body,
  etag: `"${createHash('sha256').update(body).digest('hex').slice(0, 32)}"`,
  // Level 4: 5% larger than the default level's, in a third of its time (2 s for all the files).
  gzipped: once(() => gzipAsync(body, { level: 4 })),
});
const json = (value: unknown) => made('application/json', new TextEncoder().encode(JSON.stringify(value)));

/** A file with its ETag (304 when the client has it), gzipped when the client takes it. */
async function send(req: FastifyRequest, reply: FastifyReply, f: Made, headers: Record<string, string> = {}) {
  const gz = f.body.length > 1024 && /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
  // Each encoding is its own representation, with its own strong ETag.
  const etag = gz ? `${f.etag.slice(0, -1)}-gzip"` : f.etag;
  const vary = reply.getHeader('vary');
  reply.headers({
    etag,
    'cache-control': 'no-cache',
    vary: vary ? `${String(vary)}, Accept-Encoding` : 'Accept-Encoding',
    ...headers,
  });
  if (req.headers['if-none-match'] === etag) return reply.code(304).send();
  if (gz) reply.header('content-encoding', 'gzip');
  return reply.type(f.type).send(gz ? await f.gzipped() : f.body);
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
  const ort = new Map(
    ORT_FILES.map((name) => [
      name,
      once(async () => {
        const body = await readFile(require.resolve(`onnxruntime-web/${name}`));
        return made(name.endsWith('.wasm') ? 'application/wasm' : 'text/javascript; charset=utf-8', body);
      }),
    ]),
  );
  app.get<{ Params: { file: string } }>('/lib/ort/:file', route, async (req, reply) => {
    const f = ort.get(req.params.file);
    if (!f) return notFound(reply, req.params.file);
    return send(req, reply, await f(), req.params.file.endsWith('.mjs') ? WORKER_HEADERS : {});
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
