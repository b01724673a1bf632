/**
 * `--detector` resolution: `faceapi` (offline default), `KIND:PATH`, a bare KIND (the first pulled
 * zoo detector of that kind), or a zoo name such as `scrfd-10g`. Each says what it loads and
 * under which licence.
 */
import { existsSync } from 'node:fs';
import { ArcfaceError } from '../errors.js';
import {
  createDetector,
  parseDetectorSpec,
  type Detector,
  type DetectorKind,
} from '../face/detectors/index.js';
import { isPulled, modelPath } from '../models/cache.js';
import { identifyByHash } from '../models/resolve.js';
import type { ModelManifest } from '../models/manifest.js';
import { detectors, findModel } from '../models/zoo.js';
import { DEFAULT_DETECTOR } from './recognizer.js';

export interface DetectorChoice {
  kind: DetectorKind;
  path?: string;
  manifest?: ModelManifest;
}

export function resolveDetectorSpec(spec: string = DEFAULT_DETECTOR): DetectorChoice {
  const zoo = findModel(spec.trim());
  if (zoo && zoo.task === 'detection') {
    if (zoo.detector === 'faceapi') return { kind: 'faceapi', manifest: zoo };
    if (!isPulled(zoo))
      throw new ArcfaceError(
        'NOT_FOUND',
        `detector ${zoo.name} is not downloaded: run "arcface models pull ${zoo.name}"`,
      );
    return { kind: zoo.detector!, path: modelPath(zoo), manifest: zoo };
  }
  const { kind, path } = parseDetectorSpec(spec);
  const known = detectors().filter((m) => m.detector === kind);
  if (kind === 'faceapi') return { kind, manifest: known[0] };
  if (path) return { kind, path, manifest: undefined };
  const pulled = known.find((m) => isPulled(m));
  if (!pulled)
    throw new ArcfaceError(
      'NOT_FOUND',
      `detector ${kind}: give its ONNX file as ${kind}:PATH` +
        (known.length ? `, or run "arcface models pull ${known[0]!.name}"` : ''),
    );
  return { kind, path: modelPath(pulled), manifest: pulled };
}

export async function resolveDetectorPath(kind: DetectorKind): Promise<string | undefined> {
  return resolveDetectorSpec(kind).path;
}

export function detectorNotice(c: DetectorChoice): string {
  if (c.manifest) {
    const terms = c.manifest.researchOnly
      ? 'NON-COMMERCIAL RESEARCH ONLY'
      : 'its licence allows commercial use; check the training data terms';
    return `detector ${c.manifest.name} (${c.manifest.licence}; trained on ${c.manifest.trainingData}; ${terms})`;
  }
  return `detector ${c.kind} from ${c.path} (licence: whatever that file's publisher says)`;
}

export async function openDetector(
  spec?: string,
  opts: { threads?: number } = {},
): Promise<{ detector: Detector; choice: DetectorChoice; notice: string }> {
  const choice = resolveDetectorSpec(spec);
  // A file given by path that is a zoo detector's bytes gets that manifest, for its terms.
  if (!choice.manifest && choice.path && existsSync(choice.path)) {
    const known = await identifyByHash(choice.path);
    if (known?.task === 'detection') choice.manifest = known;
  }
  const detector = await createDetector(choice.kind, choice.path, { threads: opts.threads });
  return { detector, choice, notice: detectorNotice(choice) };
}
