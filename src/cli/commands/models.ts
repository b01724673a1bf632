import { readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  availability,
  isPulled,
  modelPath,
  readRecordedHash,
  type ModelManifest,
  type PreprocessOverrides,
} from '../../models/index.js';
import { pullModel } from '../../models/pull.js';
import { parseMeanStd, resolveModel } from '../../models/resolve.js';
import { ZOO, getModel } from '../../models/zoo.js';
import { openSetThreshold, thresholdAtFar } from '../../eval/far.js';
import { Progress } from '../progress.js';
import { UsageError, type Command } from '../command.js';

const USAGE = `arcface models list [--json]
       arcface models pull NAME [--force]
       arcface models info NAME|FILE.onnx|FILE.json [--json] [--color rgb|bgr] [--mean M] [--std S] [--layout nchw|nhwc]

  list     the zoo: recognisers and detectors, their size, whether they are here, licence and
           training data (many are for non-commercial research only)
  pull     download a model into the model folder ($ARCFACE_HOME/models, else
           $XDG_CACHE_HOME/arcface/models, else ~/.cache/arcface/models); the only command that
           uses the network. ARCFACE_MODEL_MIRROR=URL fetches the same file names from a mirror
  info     one model's manifest, path, hash, licence and training-data terms; for an .onnx file,
           what its shapes say and the pre-processing it would get
  --force  download again even if the file is there
  --json   machine-readable output
  --color, --mean, --std, --layout   pre-processing for an .onnx file (default rgb, 127.5, 127.5,
           nchw; mean and std: one number or three, 0..255 pixel units)`;

const mb = (bytes: number | undefined) => (bytes === undefined ? '?' : `${(bytes / 1e6).toFixed(1)} MB`);

function sizeOf(m: ModelManifest, path?: string | null): number | undefined {
  if (m.size !== undefined) return m.size;
  try {
    const file = path ?? modelPath(m);
    if (m.format !== 'tfjs') return statSync(file).size;
    // A tfjs model's file is its weights manifest: the weights are the shards it lists.
    const groups = JSON.parse(readFileSync(file, 'utf8')) as { paths: string[] }[];
    return groups.flatMap((g) => g.paths).reduce((n, p) => n + statSync(join(dirname(file), p)).size, 0);
  } catch {
    return undefined;
  }
}

function pulledText(m: ModelManifest): string {
  const here = isPulled(m);
  const how = availability(m);
  if (how === 'builtin') return here ? 'builtin' : 'builtin (package missing)';
  if (how === 'local-only') return here ? 'yes' : 'no (local-only)';
  return here ? 'yes' : 'no';
}

function alignmentText(m: ModelManifest): string {
  const a = m.alignment!;
  return a.template === 'dlib'
    ? `dlib face chip (get_face_chip_details), ${m.input.width}x${m.input.height}, padding ${a.padding}`
    : 'ArcFace 5-point template (InsightFace norm_crop)';
}

/** How identification thresholds follow the gallery, with the table's thresholds at a few FARs. */
function identifyLines(m: ModelManifest): string[] {
  const t = m.impostorFar;
  if (!t)
    return [
      'identify:      at the verify threshold (no FAR table: the threshold cannot follow the gallery size)',
    ];
  const at = (f: number) => thresholdAtFar(t, f).toFixed(4);
  const sizes = [1, 10, 100, 1000, 10000];
  return [
    `identify:      threshold for FPIR 1% (a stranger named with probability 1%) against N enrolled faces:`,
    `               ${sizes.map((n) => `N=${n} ${openSetThreshold(t, n).toFixed(4)}`).join(', ')}`,
    `FAR table:     ${[1e-2, 1e-3, 1e-4, 1e-5, 1e-6].map((f) => `${f.toExponential(0)} at ${at(f)}`).join(', ')}`,
    `               (${t.pairs.toLocaleString('en-US')} impostor pairs, measured down to FAR ${t.measuredTo.toExponential(1)}, extrapolated below)`,
  ];
}

const use = (m: ModelManifest) =>
  m.researchOnly ? 'NON-COMMERCIAL RESEARCH ONLY' : 'licence allows commercial use';

function clip(s: string, n: number): string {
  return s.length <= n ? s : `${s.slice(0, n - 1)}…`;
}

function summary(m: ModelManifest) {
  let path: string | null = null;
  try {
    path = modelPath(m);
  } catch {
    path = null;
  }
  return {
    name: m.name,
    task: m.task,
    ...(m.detector ? { detector: m.detector } : {}),
    availability: availability(m),
    pulled: isPulled(m),
    path,
    size: sizeOf(m) ?? null,
    downloadSize: m.source?.size ?? null,
    dim: m.output?.dim ?? null,
    licence: m.licence,
    trainingData: m.trainingData,
    researchOnly: m.researchOnly,
    ...(m.accuracy ? { accuracy: m.accuracy, accuracySource: m.accuracySource } : {}),
    ...(m.description ? { description: m.description } : {}),
  };
}

function list(json: boolean): number {
  if (json) {
    process.stdout.write(JSON.stringify(ZOO.map(summary), null, 2) + '\n');
    return 0;
  }
  const rows = ZOO.map((m) => [
    m.name,
    m.task,
    mb(sizeOf(m)),
    pulledText(m),
    use(m),
    clip(m.licence, 44),
    clip(m.trainingData, 44),
  ]);
  const head = ['NAME', 'TASK', 'SIZE', 'PULLED', 'USE', 'LICENCE', 'TRAINING DATA'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  process.stdout.write(
    `${[head, ...rows].map(line).join('\n')}\n\nFull terms: arcface models info NAME. Download: arcface models pull NAME.\n`,
  );
  return 0;
}

async function pull(name: string, force: boolean): Promise<number> {
  const m = getModel(name);
  let bar: Progress | undefined;
  let shown = 0;
  let last = 0;
  const r = await pullModel(m, {
    force,
    onProgress(received, total) {
      last = received;
      // Whole megabytes, so the bar's count and rate read in MB.
      if (!bar)
        bar = new Progress({
          label: `pull ${m.name}`,
          total: Math.max(1, Math.ceil(total / 1e6)),
          unit: 'MB',
        });
      const now = Math.floor(received / 1e6);
      if (now > shown) {
        bar.tick(now - shown);
        shown = now;
      }
    },
  });
  if (bar) {
    bar.tick(Math.max(0, Math.ceil(last / 1e6) - shown));
    bar.finish();
  }
  const check = r.verified
    ? 'matches the published sha256'
    : 'no published hash to check it against: recorded beside the file, later loads are checked against it (trust on first use)';
  process.stdout.write(
    `${m.name}: ${r.downloaded ? 'downloaded to' : 'already at'} ${r.path}\nsha256 ${r.sha256}: ${check}\n` +
      `licence: ${m.licence}\ntraining data: ${m.trainingData}\n${m.researchOnly ? 'use: NON-COMMERCIAL RESEARCH ONLY\n' : ''}`,
  );
  return 0;
}

function overridesFrom(v: Record<string, string | boolean | undefined>): PreprocessOverrides {
  const o: PreprocessOverrides = {};
  if (v.color !== undefined) {
    if (v.color !== 'rgb' && v.color !== 'bgr')
      throw new UsageError(`--color must be rgb or bgr, got "${v.color}"`);
    o.color = v.color;
  }
  if (v.layout !== undefined) {
    if (v.layout !== 'nchw' && v.layout !== 'nhwc')
      throw new UsageError(`--layout must be nchw or nhwc, got "${v.layout}"`);
    o.layout = v.layout;
  }
  if (typeof v.mean === 'string') o.mean = parseMeanStd(v.mean, 'mean');
  if (typeof v.std === 'string') o.std = parseMeanStd(v.std, 'std');
  return o;
}

async function info(spec: string, json: boolean, o: PreprocessOverrides): Promise<number> {
  const zoo = ZOO.find((m) => m.name === spec);
  let m: ModelManifest;
  let path: string | null;
  let pulled: boolean;
  if (zoo && Object.keys(o).length === 0) {
    m = zoo;
    pulled = isPulled(m);
    try {
      path = modelPath(m);
    } catch {
      path = null;
    }
  } else {
    const r = await resolveModel(spec, o);
    m = r.manifest;
    path = r.path;
    pulled = true;
  }
  const recorded = path && !m.sha256 ? readRecordedHash(path) : undefined;
  const sha256 = m.sha256 ?? recorded?.sha256 ?? null;
  const sha256Source = m.sha256
    ? 'published'
    : recorded
      ? recorded.verified
        ? 'recorded at download (archive hash verified)'
        : 'recorded at first download (unverified)'
      : null;
  if (json) {
    process.stdout.write(JSON.stringify({ manifest: m, path, pulled, sha256, sha256Source }, null, 2) + '\n');
    return 0;
  }
  const i = m.input;
  const lines = [
    `name:          ${m.name}${m.description ? ` (${m.description})` : ''}`,
    `task:          ${m.task}${m.detector ? ` (${m.detector})` : ''}`,
    `path:          ${path ?? '-'}`,
    `pulled:        ${pulledText(m) === 'builtin' ? 'builtin' : pulled ? 'yes' : 'no'}`,
    `source:        ${m.builtin ? `inside the ${m.builtin} package` : m.source ? `${m.source.url}${m.source.member ? ` (member ${m.source.member})` : ''}` : (m.provenance ?? 'local-only')}`,
    `sha256:        ${sha256 ? `${sha256} (${sha256Source})` : 'unknown (none published)'}`,
    `size:          ${mb(sizeOf(m, path))}`,
    `input:         ${i.width}x${i.height} ${i.layout.toUpperCase()} ${i.color.toUpperCase()}, (x - [${i.mean.join(', ')}]) / [${i.std.join(', ')}]`,
    ...(m.output ? [`embedding:     ${m.output.dim}-d, flip-sum ${m.flip ? 'on' : 'off'} by default`] : []),
    `licence:       ${m.licence}`,
    `training data: ${m.trainingData}`,
    ...(m.base
      ? [
          `fine-tuned from: ${m.base.name} (${m.base.licence}; trained on ${m.base.trainingData}${m.base.researchOnly ? '; NON-COMMERCIAL RESEARCH ONLY' : ''})`,
        ]
      : []),
    `use:           ${use(m)}`,
    ...(m.accuracy
      ? [
          `accuracy:      ${Object.entries(m.accuracy)
            .map(([k, v]) => `${k} ${(v * 100).toFixed(2)}%`)
            .join(', ')}`,
          `               (${m.accuracySource ?? 'source not given'})`,
        ]
      : []),
    ...(m.thresholds
      ? [
          `thresholds:    ${Object.entries(m.thresholds)
            .map(([k, v]) => `${k} ${v}`)
            .join(', ')}`,
          ...(m.thresholdsSource ? [`               (${m.thresholdsSource})`] : []),
        ]
      : []),
    ...(m.alignment ? [`alignment:     ${alignmentText(m)}`] : []),
    ...(m.task === 'recognition' ? identifyLines(m) : []),
  ];
  process.stdout.write(lines.join('\n') + '\n');
  return 0;
}

export const modelsCommand: Command = {
  name: 'models',
  summary: 'list, download (pull) and describe recognition and detection models',
  usage: USAGE,
  async run(argv) {
    const { values, positionals } = parseArgs({
      args: argv,
      options: {
        json: { type: 'boolean' },
        force: { type: 'boolean' },
        color: { type: 'string' },
        mean: { type: 'string' },
        std: { type: 'string' },
        layout: { type: 'string' },
      },
      allowPositionals: true,
      strict: true,
    });
    const [sub, name, ...extra] = positionals;
    if (extra.length) throw new UsageError(`unexpected argument "${extra[0]}"`);
    const o = overridesFrom(values);
    if (sub !== 'info' && Object.keys(o).length)
      throw new UsageError('--color, --mean, --std and --layout go with `models info FILE.onnx`');
    switch (sub) {
      case 'list':
        if (name !== undefined) throw new UsageError(`models list takes no argument (got "${name}")`);
        return list(Boolean(values.json));
      case 'pull':
        if (!name) throw new UsageError('models pull needs a model NAME (see arcface models list)');
        return pull(name, Boolean(values.force));
      case 'info':
        if (!name) throw new UsageError('models info needs a model NAME or a path to an .onnx or .json');
        return info(name, Boolean(values.json), o);
      case undefined:
        throw new UsageError('models needs a subcommand: list, pull or info');
      default:
        throw new UsageError(`unknown subcommand "${sub}" (list, pull or info)`);
    }
  },
};
