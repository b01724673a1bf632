/**
 * Where models live on disk: `$ARCFACE_HOME/models`, else `$XDG_CACHE_HOME/arcface/models`, else
 * `~/.cache/arcface/models`; one folder per model name holding its ONNX file and, for models without a
 * published hash, the `<file>.sha256` recorded at first download.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ArcfaceError } from '../errors.js';
import type { ModelManifest } from './manifest.js';

export function modelsRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.ARCFACE_HOME) return join(env.ARCFACE_HOME, 'models');
  if (env.XDG_CACHE_HOME) return join(env.XDG_CACHE_HOME, 'arcface', 'models');
  return join(homedir(), '.cache', 'arcface', 'models');
}

export function modelDir(name: string, env: NodeJS.ProcessEnv = process.env): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name))
    throw new ArcfaceError('BAD_INPUT', `bad model name "${name}"`);
  return join(modelsRoot(env), name);
}

/** This package's root: src/models/ and dist/models/ both sit two levels below it. */
export const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const OWN_PACKAGE = (
  JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { name: string }
).name;

/**
 * Folder of a builtin model's weights inside an npm package ('@scope/pkg/sub/dir'); this
 * package's own name ('arcface/weights/...') means its own files, the weights it ships.
 */
function builtinDir(spec: string): string {
  const parts = spec.split('/');
  const pkg = spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
  const rest = parts.slice(spec.startsWith('@') ? 2 : 1);
  if (pkg === OWN_PACKAGE) return join(PACKAGE_ROOT, ...rest);
  const require = createRequire(import.meta.url);
  let root: string;
  try {
    root = dirname(require.resolve(`${pkg}/package.json`));
  } catch {
    throw new ArcfaceError('NOT_FOUND', `builtin model package ${pkg} is not installed`);
  }
  return join(root, ...rest);
}

/** Where the model's ONNX (or builtin weights) file is, pulled or not. */
export function modelPath(m: ModelManifest, env: NodeJS.ProcessEnv = process.env): string {
  return m.builtin ? join(builtinDir(m.builtin), m.file) : join(modelDir(m.name, env), m.file);
}

export function isPulled(m: ModelManifest, env: NodeJS.ProcessEnv = process.env): boolean {
  try {
    const st = statSync(modelPath(m, env));
    return st.isFile() && st.size > 0;
  } catch {
    return false;
  }
}

/** `<file>.sha256` beside a model: the hash recorded on first download when none was published. */
export function recordedHashPath(path: string): string {
  return `${path}.sha256`;
}

export interface RecordedHash {
  sha256: string;
  /** True when the download it came from matched a published (archive) hash. */
  verified: boolean;
}

export function recordedHashText(sha256: string, file: string, verified: boolean): string {
  const how = verified
    ? 'verified: from an archive with a published sha256'
    : 'unverified: trust on first use';
  return `${sha256}  ${file}\n# ${how}\n`;
}

export function readRecordedHash(path: string): RecordedHash | undefined {
  const p = recordedHashPath(path);
  if (!existsSync(p)) return undefined;
  const text = readFileSync(p, 'utf8');
  const h = text.trim().split(/\s+/)[0];
  return /^[0-9a-f]{64}$/.test(h) ? { sha256: h, verified: text.includes('# verified') } : undefined;
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export interface VerifiedFile {
  path: string;
  sha256: string;
  /** True when the hash matched a published one; false for a hash only recorded at first download. */
  verified: boolean;
}

const checked = new Map<string, { size: number; mtimeMs: number; result: VerifiedFile }>();

/**
 * Hashes a pulled model and checks it against the manifest's published sha256, else against the one
 * recorded beside it at first download (trust on first use). Remembered per file size and mtime, so a
 * process hashes each model once.
 */
export async function verifyModelFile(m: ModelManifest, path: string): Promise<VerifiedFile> {
  const st = statSync(path);
  const hit = checked.get(path);
  if (hit && hit.size === st.size && hit.mtimeMs === st.mtimeMs) return hit.result;
  if (m.size !== undefined && st.size !== m.size)
    throw new ArcfaceError(
      'BAD_INPUT',
      `${path}: ${st.size} bytes, model ${m.name} has ${m.size}: a partial or different file; run \`arcface models pull ${m.name} --force\`, or load your file by path`,
    );
  const sha256 = await sha256File(path);
  const recorded = m.sha256 ? undefined : readRecordedHash(path);
  const expected = m.sha256 ?? recorded?.sha256;
  if (expected && expected !== sha256)
    throw new ArcfaceError(
      'BAD_INPUT',
      `${path}: sha256 ${sha256} does not match ${m.sha256 ? 'the published' : 'the first-download'} hash ${expected} of model ${m.name}: the file is corrupt or a different model; run \`arcface models pull ${m.name} --force\`, or load your file by path`,
    );
  const result = { path, sha256, verified: m.sha256 !== undefined || recorded?.verified === true };
  checked.set(path, { size: st.size, mtimeMs: st.mtimeMs, result });
  return result;
}
