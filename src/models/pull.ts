/**
 * `arcface models pull`: the only code in the package that touches the network. Downloads to a
 * temporary file in the model's folder, checks size and sha256, takes the ONNX out of a zip pack,
 * checks the ONNX's own hash, then renames it into place, so a file under its final name is always
 * complete. Without a published hash the computed one is recorded beside the file (trust on first
 * use) and later loads are checked against it.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { ArcfaceError } from '../errors.js';
import {
  isPulled,
  modelDir,
  modelPath,
  recordedHashPath,
  recordedHashText,
  sha256File,
  verifyModelFile,
} from './cache.js';
import type { ModelManifest } from './manifest.js';
import { extractEntry, findEntry, listZip } from './zip.js';

export interface PullOptions {
  /** Bytes received so far and the expected total (0 when unknown). */
  onProgress?(received: number, total: number): void;
  fetch?: typeof fetch;
  /** Download again even when the file is there. */
  force?: boolean;
  env?: NodeJS.ProcessEnv;
}

export interface PullResult {
  path: string;
  sha256: string;
  /** The bytes matched a published hash (false: trust on first use). */
  verified: boolean;
  /** False when the file was already in place (and has been checked). */
  downloaded: boolean;
}

/** The download URL, rebased on `$ARCFACE_MODEL_MIRROR` (keeps the file name) when set. */
export function sourceUrl(m: ModelManifest, env: NodeJS.ProcessEnv = process.env): string {
  if (!m.source) throw new ArcfaceError('NOT_FOUND', `model ${m.name} has no download source`);
  const mirror = env.ARCFACE_MODEL_MIRROR;
  if (!mirror) return m.source.url;
  const name = new URL(m.source.url).pathname.split('/').pop() ?? m.file;
  return `${mirror.replace(/\/+$/, '')}/${name}`;
}

/** How to put the file in place without this command. */
export function placeByHand(m: ModelManifest, env: NodeJS.ProcessEnv = process.env): string {
  const dir = modelDir(m.name, env);
  const cmd = `mkdir -p ${dir} && cp model.onnx ${join(dir, m.file)}`;
  const src = m.source;
  return src?.archive === 'zip'
    ? `${cmd} (model.onnx being ${src.member} inside ${src.url.split('/').pop()})`
    : cmd;
}

function networkError(url: string, m: ModelManifest, env: NodeJS.ProcessEnv, why: string): ArcfaceError {
  return new ArcfaceError(
    'NOT_FOUND',
    `cannot download ${url} (${why}). If this machine is offline, fetch it elsewhere and place it by hand: ${placeByHand(
      m,
      env,
    )}; or point ARCFACE_MODEL_MIRROR at a local mirror`,
  );
}

function causeOf(err: unknown): string {
  const e = err as { message?: string; cause?: { code?: string; message?: string } };
  return e.cause?.code ?? e.cause?.message ?? e.message ?? String(err);
}

/** Streams `url` to `out`; returns the sha256 and byte count of what was written. */
async function download(
  url: string,
  out: string,
  m: ModelManifest,
  opts: PullOptions,
  env: NodeJS.ProcessEnv,
): Promise<{ sha256: string; bytes: number }> {
  let total = m.source?.size ?? 0;
  let body: Readable;
  if (url.startsWith('file:')) {
    const p = fileURLToPath(url);
    try {
      total = (await stat(p)).size;
    } catch {
      throw networkError(url, m, env, 'no such file');
    }
    body = createReadStream(p);
  } else {
    let res: Response;
    try {
      res = await (opts.fetch ?? fetch)(url, { redirect: 'follow' });
    } catch (err) {
      throw networkError(url, m, env, `unreachable: ${causeOf(err)}`);
    }
    if (!res.ok || !res.body)
      throw networkError(url, m, env, `HTTP ${res.status}${res.statusText ? ' ' + res.statusText : ''}`);
    const len = Number(res.headers.get('content-length'));
    if (len > 0) total = len;
    body = Readable.fromWeb(res.body as import('node:stream/web').ReadableStream);
  }
  const hash = createHash('sha256');
  let received = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      received += chunk.length;
      opts.onProgress?.(received, total);
      cb(null, chunk);
    },
  });
  try {
    await pipeline(body, counter, createWriteStream(out));
  } catch (err) {
    throw networkError(url, m, env, `broke off after ${received} bytes: ${causeOf(err)}`);
  }
  return { sha256: hash.digest('hex'), bytes: received };
}

export async function pullModel(m: ModelManifest, opts: PullOptions = {}): Promise<PullResult> {
  const env = opts.env ?? process.env;
  if (m.builtin) {
    if (!isPulled(m, env))
      throw new ArcfaceError(
        'NOT_FOUND',
        `model ${m.name} ships inside ${m.builtin}, which is not installed`,
      );
    const path = modelPath(m, env);
    return { path, sha256: await sha256File(path), verified: true, downloaded: false };
  }
  const dest = modelPath(m, env);
  if (!m.source)
    throw new ArcfaceError(
      'NOT_FOUND',
      `model ${m.name} has no download source (${m.provenance ?? 'local-only'}). Place the file by hand: ${placeByHand(m, env)}`,
    );
  if (!opts.force && existsSync(dest)) return { ...(await verifyModelFile(m, dest)), downloaded: false };

  const url = sourceUrl(m, env);
  const dir = modelDir(m.name, env);
  await mkdir(dir, { recursive: true });
  // Dot-names with a random tag: never taken for the model, never clashing with a parallel pull.
  const tag = `${process.pid}.${randomBytes(4).toString('hex')}`;
  const dl = join(dir, `.${m.file}.${tag}.download`);
  const part = join(dir, `.${m.file}.${tag}.part`);
  const hashPart = join(dir, `.${m.file}.${tag}.sha256`);
  try {
    const got = await download(url, dl, m, opts, env);
    const src = m.source;
    if (src.size !== undefined && got.bytes !== src.size)
      throw new ArcfaceError(
        'BAD_INPUT',
        `${url}: got ${got.bytes} bytes, expected ${src.size}: incomplete or changed download`,
      );
    if (src.sha256 && got.sha256 !== src.sha256)
      throw new ArcfaceError(
        'BAD_INPUT',
        `${url}: sha256 ${got.sha256} does not match the published ${src.sha256}: corrupt or changed download (nothing was installed)`,
      );
    let sha256 = got.sha256;
    if (src.archive === 'zip') {
      const entry = findEntry(await listZip(dl), src.member ?? m.file, url);
      const h = createHash('sha256');
      await extractEntry(dl, entry, part, (c) => h.update(c));
      sha256 = h.digest('hex');
      await rm(dl, { force: true });
    } else await rename(dl, part);
    const bytes = (await stat(part)).size;
    if (m.size !== undefined && bytes !== m.size)
      throw new ArcfaceError(
        'BAD_INPUT',
        `${url}: ${m.file} has ${bytes} bytes, expected ${m.size} (nothing was installed)`,
      );
    if (m.sha256 && sha256 !== m.sha256)
      throw new ArcfaceError(
        'BAD_INPUT',
        `${url}: ${m.file} has sha256 ${sha256}, the published one is ${m.sha256} (nothing was installed)`,
      );
    const verified = m.sha256 !== undefined || src.sha256 !== undefined;
    if (m.sha256 === undefined) await writeFile(hashPart, recordedHashText(sha256, m.file, verified));
    await rename(part, dest);
    if (m.sha256 === undefined) await rename(hashPart, recordedHashPath(dest));
    else await rm(recordedHashPath(dest), { force: true });
    return { path: dest, sha256, verified, downloaded: true };
  } finally {
    await Promise.all([dl, part, hashPart].map((p) => rm(p, { force: true })));
  }
}
