/**
 * A model is an ONNX file plus this manifest: where to download it, how to feed it, what it
 * returns, and the terms it comes under. Zoo entries (zoo.ts) and user `.json` manifests are both
 * checked by validateManifest, so a typo in a field reads the same everywhere.
 */
import { badInput } from '../errors.js';
import { checkFarTable, type FarTable } from '../eval/far.js';

export type ModelTask = 'recognition' | 'detection';
export type DetectorKind = 'yunet' | 'scrfd' | 'retinaface' | 'faceapi';
export type Triple = [number, number, number];
/**
 * How a face is warped before the model sees it: 'arcface' = InsightFace's 5-point template
 * (112x112, face/template.ts); 'dlib' = dlib's face chip (get_face_chip_details: dlib's mean face
 * shape, `padding` of the face's size around it, `input.width` square), which dlib's own recogniser
 * was trained on.
 */
export type Alignment = { template: 'arcface' } | { template: 'dlib'; padding: number };
/**
 * The weights' format: 'onnx' (the default) or 'tfjs' (a TensorFlow.js weights manifest, converted in
 * memory to an ONNX graph by the converter named by `architecture`, src/convert/).
 */
export type ModelFormat = 'onnx' | 'tfjs';
export const ARCHITECTURES = ['dlib-resnet-v1'] as const;
export type Architecture = (typeof ARCHITECTURES)[number];

export interface ModelSource {
  url: string;
  /** sha256 of the downloaded file (the archive when `archive` is set). */
  sha256?: string;
  /** Bytes of the downloaded file. */
  size?: number;
  archive?: 'zip';
  /** Path of the ONNX file inside the archive. */
  member?: string;
}

export interface InputSpec {
  width: number;
  height: number;
  layout: 'nchw' | 'nhwc';
  /** Channel order the model expects. */
  color: 'rgb' | 'bgr';
  /**
   * Per tensor channel (in the model's channel order, after the colour conversion), 0..255 units:
   * x' = (x - mean) / std. InsightFace's recognisers: 127.5 / 127.5.
   */
  mean: Triple;
  std: Triple;
}

export interface ModelManifest {
  name: string;
  task: ModelTask;
  /** Which decoder reads the outputs (detection only). */
  detector?: DetectorKind;
  /** The ONNX file's name inside the model's folder (for builtin models: the weights file). */
  file: string;
  /** Absent for builtin and local-only models. */
  source?: ModelSource;
  /** sha256 of the ONNX file itself. */
  sha256?: string;
  /** Bytes of the ONNX file itself. */
  size?: number;
  /** npm package whose files hold the weights (no download): e.g. '@vladmandic/face-api/model'. */
  builtin?: string;
  /** Weights format (default 'onnx'); 'tfjs' needs `architecture`. */
  format?: ModelFormat;
  /** The graph a 'tfjs' model's weights are converted into. */
  architecture?: Architecture;
  /** The crop the model was trained on (recognition; default the ArcFace template). */
  alignment?: Alignment;
  input: InputSpec;
  /** Embedding size (recognition; optional for detectors, whose decoders know their outputs). */
  output?: { dim: number };
  /** Test-time flip-sum by default: L2norm(e(x) + e(hflip(x))). */
  flip: boolean;
  licence: string;
  /** Training data and its terms. */
  trainingData: string;
  /** Non-commercial research use only (the model's licence or its training data's terms). */
  researchOnly: boolean;
  /** Published numbers as fractions, e.g. {"lfw": 0.9983}. */
  accuracy?: Record<string, number>;
  accuracySource?: string;
  /** Cosine-similarity thresholds: "verify" plus calibrated ones keyed by FAR ("1e-3"). */
  thresholds?: { verify?: number; [far: string]: number | undefined };
  /** How the thresholds were obtained: data, pairs, criterion, date, command (or a cited publisher file). */
  thresholdsSource?: string;
  /**
   * The model's impostor distribution as cosine vs false-accept rate (src/eval/far.ts): what every
   * score's `far` is read from, and the open-set identification threshold for a gallery's size.
   */
  impostorFar?: FarTable;
  description?: string;
  /** Where the bytes come from when no download source is known. */
  provenance?: string;
  /**
   * The model a fine-tuned one started from (`arcface train --init`), with its own terms: a
   * derived model carries its base's licence and training data as well as its own.
   */
  base?: BaseModelInfo;
}

export interface BaseModelInfo {
  name: string;
  licence: string;
  trainingData: string;
  researchOnly: boolean;
}

const KEYS = new Set([
  'name',
  'task',
  'detector',
  'file',
  'source',
  'sha256',
  'size',
  'builtin',
  'format',
  'architecture',
  'alignment',
  'input',
  'output',
  'flip',
  'licence',
  'trainingData',
  'researchOnly',
  'accuracy',
  'accuracySource',
  'thresholds',
  'thresholdsSource',
  'impostorFar',
  'description',
  'provenance',
  'base',
  '$schema',
  'comment',
]);
const SOURCE_KEYS = new Set(['url', 'sha256', 'size', 'archive', 'member']);
const INPUT_KEYS = new Set(['width', 'height', 'layout', 'color', 'mean', 'std']);
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const SHA256 = /^[0-9a-f]{64}$/;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Checks a parsed manifest; every error names `source` (the file or zoo entry) and the field. */
export function validateManifest(json: unknown, source: string): ModelManifest {
  const fail = (field: string, want: string, got?: unknown): never => {
    const seen = got === undefined ? 'missing' : `got ${JSON.stringify(got)}`;
    throw badInput(`${source}: manifest field "${field}": expected ${want}, ${seen}`);
  };
  if (!isObj(json)) throw badInput(`${source}: a model manifest must be a JSON object`);
  const unknown = (o: Obj, known: Set<string>, prefix: string) => {
    for (const k of Object.keys(o))
      if (!known.has(k))
        throw badInput(`${source}: unknown manifest field "${prefix}${k}" (known: ${[...known].join(', ')})`);
  };
  unknown(json, KEYS, '');
  const str = (o: Obj, k: string, field = k): string => {
    const v = o[k];
    return typeof v === 'string' && v.trim() !== '' ? v : fail(field, 'a non-empty string', v);
  };
  const optStr = (o: Obj, k: string, field = k): string | undefined =>
    o[k] === undefined ? undefined : str(o, k, field);
  const posInt = (o: Obj, k: string, field: string): number => {
    const v = o[k];
    return Number.isInteger(v) && (v as number) > 0 ? (v as number) : fail(field, 'a positive integer', v);
  };
  const oneOf = <T extends string>(o: Obj, k: string, values: readonly T[], field = k): T => {
    const v = o[k];
    return values.includes(v as T) ? (v as T) : fail(field, values.map((x) => `"${x}"`).join(' or '), v);
  };
  const sha = (o: Obj, k: string, field: string): string | undefined => {
    if (o[k] === undefined) return undefined;
    const v = o[k];
    return typeof v === 'string' && SHA256.test(v) ? v : fail(field, '64 lower-case hex digits', v);
  };
  const triple = (o: Obj, k: string, field: string, positive: boolean): Triple => {
    const v = o[k];
    if (
      !Array.isArray(v) ||
      v.length !== 3 ||
      !v.every(
        (x) => typeof x === 'number' && Number.isFinite(x) && x >= 0 && x <= 255 && (!positive || x > 0),
      )
    )
      fail(field, `3 numbers in ${positive ? '(0, 255]' : '[0, 255]'} (0..255 pixel units)`, v);
    return [...(v as number[])] as Triple;
  };

  const name = str(json, 'name');
  if (!NAME.test(name)) fail('name', 'letters, digits, ".", "_" or "-" (it names a folder)', name);
  const task = oneOf(json, 'task', ['recognition', 'detection'] as const);
  let detector: DetectorKind | undefined;
  if (json.detector !== undefined) {
    if (task !== 'detection') fail('detector', 'no detector on a recognition model', json.detector);
    detector = oneOf(json, 'detector', ['yunet', 'scrfd', 'retinaface', 'faceapi'] as const);
  } else if (task === 'detection') fail('detector', '"yunet", "scrfd", "retinaface" or "faceapi"');
  const file = str(json, 'file');
  if (/[/\\]/.test(file) || file === '.' || file === '..')
    fail('file', 'a bare file name inside the model folder', file);
  const builtin = optStr(json, 'builtin');
  const format = json.format === undefined ? 'onnx' : oneOf(json, 'format', ['onnx', 'tfjs'] as const);
  if (format === 'onnx' && !builtin && !file.endsWith('.onnx')) fail('file', 'a name ending in .onnx', file);
  if (format === 'tfjs' && !file.endsWith('.json'))
    fail('file', 'the tfjs weights manifest (a name ending in .json)', file);
  let architecture: Architecture | undefined;
  if (json.architecture !== undefined) architecture = oneOf(json, 'architecture', ARCHITECTURES);
  else if (format === 'tfjs') fail('architecture', `one of ${ARCHITECTURES.join(', ')} for tfjs weights`);
  let alignment: Alignment | undefined;
  if (json.alignment !== undefined) {
    const a = json.alignment;
    if (!isObj(a)) fail('alignment', '{"template": "arcface"} or {"template": "dlib", "padding": 0.25}', a);
    const al = a as Obj;
    unknown(al, new Set(['template', 'padding']), 'alignment.');
    const template = oneOf(al, 'template', ['arcface', 'dlib'] as const, 'alignment.template');
    if (template === 'dlib') {
      const p = al.padding;
      if (typeof p !== 'number' || !(p >= 0 && p <= 2)) fail('alignment.padding', 'a number in [0, 2]', p);
      alignment = { template, padding: p as number };
    } else {
      if (al.padding !== undefined)
        fail('alignment.padding', 'no padding for the arcface template', al.padding);
      alignment = { template };
    }
    if (task !== 'recognition') fail('alignment', 'only on a recognition model', a);
  }

  let src: ModelSource | undefined;
  if (json.source !== undefined) {
    if (!isObj(json.source))
      fail('source', 'an object {url, sha256?, size?, archive?, member?}', json.source);
    const s = json.source as Obj;
    unknown(s, SOURCE_KEYS, 'source.');
    const url = str(s, 'url', 'source.url');
    if (!/^(https?|file):\/\//.test(url)) fail('source.url', 'an https://, http:// or file:// URL', url);
    src = { url };
    const h = sha(s, 'sha256', 'source.sha256');
    if (h) src.sha256 = h;
    if (s.size !== undefined) src.size = posInt(s, 'size', 'source.size');
    if (s.archive !== undefined) {
      src.archive = oneOf(s, 'archive', ['zip'] as const, 'source.archive');
      src.member = str(s, 'member', 'source.member');
    } else if (s.member !== undefined) fail('source.archive', '"zip" when source.member is given');
  }

  if (!isObj(json.input))
    fail('input', 'an object {width, height, layout, color, mean, std}', json.input ?? undefined);
  const inp = json.input as Obj;
  unknown(inp, INPUT_KEYS, 'input.');
  const input: InputSpec = {
    width: posInt(inp, 'width', 'input.width'),
    height: posInt(inp, 'height', 'input.height'),
    layout: oneOf(inp, 'layout', ['nchw', 'nhwc'] as const, 'input.layout'),
    color: oneOf(inp, 'color', ['rgb', 'bgr'] as const, 'input.color'),
    mean: triple(inp, 'mean', 'input.mean', false),
    std: triple(inp, 'std', 'input.std', true),
  };

  let output: { dim: number } | undefined;
  if (json.output !== undefined || task === 'recognition') {
    if (!isObj(json.output)) fail('output', 'an object {dim}', json.output);
    output = { dim: posInt(json.output as Obj, 'dim', 'output.dim') };
  }
  if (typeof json.flip !== 'boolean') fail('flip', 'true or false', json.flip);
  if (typeof json.researchOnly !== 'boolean') fail('researchOnly', 'true or false', json.researchOnly);

  const m: ModelManifest = {
    name,
    task,
    ...(detector ? { detector } : {}),
    file,
    ...(src ? { source: src } : {}),
    input,
    ...(output ? { output } : {}),
    flip: json.flip as boolean,
    licence: str(json, 'licence'),
    trainingData: str(json, 'trainingData'),
    researchOnly: json.researchOnly as boolean,
  };
  const h = sha(json, 'sha256', 'sha256');
  if (h) m.sha256 = h;
  if (json.size !== undefined) m.size = posInt(json, 'size', 'size');
  if (builtin) m.builtin = builtin;
  if (json.format !== undefined) m.format = format;
  if (architecture) m.architecture = architecture;
  if (alignment) m.alignment = alignment;
  if (json.accuracy !== undefined) {
    const a = json.accuracy;
    if (!isObj(a)) fail('accuracy', 'an object of fractions, e.g. {"lfw": 0.9983}', a);
    for (const [k, v] of Object.entries(a as Obj))
      if (typeof v !== 'number' || !(v >= 0 && v <= 1)) fail(`accuracy.${k}`, 'a fraction in [0, 1]', v);
    m.accuracy = { ...(a as Record<string, number>) };
    m.accuracySource = str(json, 'accuracySource');
  } else if (json.accuracySource !== undefined) m.accuracySource = str(json, 'accuracySource');
  if (json.thresholds !== undefined) {
    const t = json.thresholds;
    if (!isObj(t)) fail('thresholds', 'an object of cosine thresholds, e.g. {"verify": 0.3}', t);
    for (const [k, v] of Object.entries(t as Obj))
      if (typeof v !== 'number' || !(v >= -1 && v <= 1)) fail(`thresholds.${k}`, 'a cosine in [-1, 1]', v);
    m.thresholds = { ...(t as Record<string, number>) };
  }
  // Optional even with thresholds: a user's own manifest may carry a threshold it calibrated itself.
  const thresholdsSource = optStr(json, 'thresholdsSource');
  if (thresholdsSource) m.thresholdsSource = thresholdsSource;
  if (json.impostorFar !== undefined) {
    const t = json.impostorFar;
    if (!isObj(t)) fail('impostorFar', 'an object {far, cosine, measuredTo, pairs}', t);
    const o = t as Obj;
    unknown(o, new Set(['far', 'cosine', 'measuredTo', 'pairs']), 'impostorFar.');
    const table = o as unknown as FarTable;
    checkFarTable(table, `${source}: manifest field "impostorFar"`);
    m.impostorFar = {
      far: [...table.far],
      cosine: [...table.cosine],
      measuredTo: table.measuredTo,
      pairs: table.pairs,
    };
  }
  const description = optStr(json, 'description');
  if (description) m.description = description;
  const provenance = optStr(json, 'provenance');
  if (provenance) m.provenance = provenance;
  if (json.base !== undefined) {
    const b = json.base;
    if (!isObj(b)) fail('base', 'an object {name, licence, trainingData, researchOnly}', b);
    const o = b as Obj;
    unknown(o, new Set(['name', 'licence', 'trainingData', 'researchOnly']), 'base.');
    if (typeof o.researchOnly !== 'boolean') fail('base.researchOnly', 'true or false', o.researchOnly);
    m.base = {
      name: str(o, 'name', 'base.name'),
      licence: str(o, 'licence', 'base.licence'),
      trainingData: str(o, 'trainingData', 'base.trainingData'),
      researchOnly: o.researchOnly as boolean,
    };
    // A model is at least as restricted as what it was made from.
    if (m.base.researchOnly && !m.researchOnly)
      fail('researchOnly', 'true: its base model is for non-commercial research only', m.researchOnly);
  }
  return m;
}

/** How a model gets onto the disk: downloaded, shipped inside an npm package, or placed by hand. */
export function availability(m: ModelManifest): 'download' | 'builtin' | 'local-only' {
  return m.builtin ? 'builtin' : m.source ? 'download' : 'local-only';
}
