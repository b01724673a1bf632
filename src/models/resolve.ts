/**
 * From what a user types (`--model buffalo_l`, `--model ./my.json`, `--model ./net.onnx`) to a manifest
 * and a checked file path. Zoo names must have been pulled; an `.onnx` path gets InsightFace's
 * pre-processing unless told otherwise, with its size and embedding size read from the model.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { ArcfaceError, badInput } from '../errors.js';
import { inputShape, openSession, ort } from '../runtime/onnx.js';
import { isPulled, modelPath, sha256File, verifyModelFile } from './cache.js';
import {
  availability,
  validateManifest,
  type InputSpec,
  type ModelManifest,
  type Triple,
} from './manifest.js';
import { placeByHand } from './pull.js';
import { ZOO, getModel } from './zoo.js';

export interface ResolvedModel {
  manifest: ModelManifest;
  path: string;
}

/** Replace the manifest's pre-processing (for an `.onnx` path: replace the InsightFace defaults). */
export interface PreprocessOverrides {
  color?: 'rgb' | 'bgr';
  mean?: Triple;
  std?: Triple;
  layout?: 'nchw' | 'nhwc';
}

/** "127.5" or "123.7,116.3,103.5" (0..255 pixel units) -> three numbers; `what` names the option. */
export function parseMeanStd(text: string, what = 'mean'): Triple {
  const parts = text.split(',').map((s) => s.trim());
  const nums = parts.map(Number);
  if (
    (parts.length !== 1 && parts.length !== 3) ||
    parts.some((s) => s === '') ||
    !nums.every((v) => Number.isFinite(v) && v >= 0 && v <= 255)
  )
    throw badInput(
      `bad ${what} "${text}": one number or three comma-separated numbers in 0..255 (pixel units)`,
    );
  if (what === 'std' && nums.some((v) => v === 0))
    throw badInput(`bad std "${text}": a std of 0 divides by zero`);
  return (nums.length === 1 ? [nums[0], nums[0], nums[0]] : nums) as Triple;
}

function applyOverrides(m: ModelManifest, o: PreprocessOverrides, source: string): ModelManifest {
  const input: InputSpec = { ...m.input };
  if (o.color) input.color = o.color;
  if (o.layout) input.layout = o.layout;
  if (o.mean) input.mean = [...o.mean];
  if (o.std) input.std = [...o.std];
  return validateManifest({ ...m, input }, source);
}

function looksLikePath(spec: string): boolean {
  return /\.(onnx|json)$/i.test(spec) || spec.includes('/') || spec.includes('\\');
}

function mustBeFile(path: string, what: string): void {
  let ok = false;
  try {
    ok = statSync(path).isFile();
  } catch {
    ok = false;
  }
  if (!ok) throw new ArcfaceError('NOT_FOUND', `${path}: ${what} not found`);
}

/** A manifest for a bare ONNX file: size from its input shape, dim from its output (or one run). */
async function describeOnnx(path: string, o: PreprocessOverrides): Promise<ModelManifest> {
  const session = await openSession(path, { threads: 1 });
  try {
    const shape = inputShape(session);
    if (shape.length !== 4)
      throw badShape4(path, `its input "${session.inputNames[0]}" has shape [${shape.join(', ')}]`);
    const num = (v: number | string | undefined) => (typeof v === 'number' && v > 0 ? v : undefined);
    const layout = o.layout ?? (shape[1] === 3 ? 'nchw' : shape[3] === 3 ? 'nhwc' : 'nchw');
    // A dynamic spatial size: the ArcFace 112x112 template, the only size aligned crops come in here.
    const height = num(layout === 'nchw' ? shape[2] : shape[1]) ?? 112;
    const width = num(layout === 'nchw' ? shape[3] : shape[2]) ?? 112;
    const meta = session.outputMetadata[0];
    let dim = meta && meta.isTensor ? num(meta.shape[meta.shape.length - 1]) : undefined;
    if (dim === undefined) {
      const dims = layout === 'nchw' ? [1, 3, height, width] : [1, height, width, 3];
      const out = await session.run({
        [session.inputNames[0]]: new ort.Tensor('float32', new Float32Array(3 * height * width), dims),
      });
      dim = out[session.outputNames[0]].data.length;
    }
    const name = basename(path)
      .replace(/\.onnx$/i, '')
      .replace(/[^A-Za-z0-9._-]/g, '-')
      .replace(/^[._-]+/, '');
    return validateManifest(
      {
        name: name || 'model',
        task: 'recognition',
        file: basename(path),
        input: {
          width,
          height,
          layout,
          color: o.color ?? 'rgb',
          mean: o.mean ?? [127.5, 127.5, 127.5],
          std: o.std ?? [127.5, 127.5, 127.5],
        },
        output: { dim },
        flip: true,
        licence: 'unknown (user-supplied model)',
        trainingData: 'unknown (user-supplied model)',
        researchOnly: false,
        provenance: `user-supplied file ${path}`,
      },
      path,
    );
  } finally {
    await session.release();
  }
}

/** The zoo manifest whose published size and sha256 match this file's bytes, if any. */
export async function identifyByHash(path: string): Promise<ModelManifest | undefined> {
  const size = statSync(path).size;
  const candidates = ZOO.filter((m) => m.sha256 && m.size === size);
  if (candidates.length === 0) return undefined;
  const sha = await sha256File(path);
  return candidates.find((m) => m.sha256 === sha);
}

function badShape4(path: string, what: string): ArcfaceError {
  return new ArcfaceError('BAD_SHAPE', `${path}: ${what}; a recogniser takes one 4-D image batch`);
}

/**
 * `spec`: a zoo name (must be pulled), a manifest `.json` (its `file` relative to it) or an `.onnx`
 * path. Files with a known or first-download hash are checked.
 */
export async function resolveModel(
  spec: string,
  overrides: PreprocessOverrides = {},
  env: NodeJS.ProcessEnv = process.env,
): Promise<ResolvedModel> {
  if (looksLikePath(spec) || existsSync(spec)) {
    const full = resolve(spec);
    if (/\.json$/i.test(spec)) {
      mustBeFile(full, 'model manifest');
      let json: unknown;
      try {
        json = JSON.parse(readFileSync(full, 'utf8'));
      } catch (err) {
        throw badInput(`${full}: not valid JSON (${(err as Error).message})`);
      }
      let manifest = validateManifest(json, full);
      if (manifest.builtin) throw badInput(`${full}: "builtin" is only for the zoo's own entries`);
      manifest = applyOverrides(manifest, overrides, full);
      const path = resolve(dirname(full), manifest.file);
      mustBeFile(path, `model file named by ${full}`);
      if (manifest.sha256) await verifyModelFile(manifest, path);
      return { manifest, path };
    }
    mustBeFile(full, 'model file');
    // The bytes of a zoo model under another path (a copy, a mount) get that model's manifest:
    // its pre-processing, licence and thresholds, not guesses.
    const known = await identifyByHash(full);
    if (known) {
      const manifest = Object.keys(overrides).length ? applyOverrides(known, overrides, full) : known;
      return { manifest: { ...manifest, file: basename(full) }, path: full };
    }
    return { manifest: await describeOnnx(full, overrides), path: full };
  }
  let manifest = getModel(spec);
  if (!isPulled(manifest, env)) {
    const how =
      availability(manifest) === 'download'
        ? `run \`arcface models pull ${manifest.name}\`, or place it by hand: ${placeByHand(manifest, env)}`
        : `it has no download source; place it by hand: ${placeByHand(manifest, env)}, or load your copy by path`;
    throw new ArcfaceError('NOT_FOUND', `model ${manifest.name} is not downloaded: ${how}`);
  }
  const path = modelPath(manifest, env);
  // Builtin files come with their package; ours carry a hash, checked like a download.
  if (!manifest.builtin || manifest.sha256) await verifyModelFile(manifest, path);
  if (Object.keys(overrides).length) manifest = applyOverrides(manifest, overrides, `model ${manifest.name}`);
  return { manifest, path };
}
