/**
 * createBackbone: the IResNets and MobileFaceNet of arcface_torch, as tfjs variables named like
 * PyTorch's state_dict and a graph that `apply` runs and an ONNX exporter can walk.
 */
import { tf } from '../runtime/backend.js';
import { ArcfaceError, badShape } from '../errors.js';
import { rng } from '../util/random.js';
import { GraphBuilder, runGraph, tfjsToTorch, torchToTfjs, tfjsShape } from './layers.js';
import { buildIResNet, iresnetInit, IRESNET_LAYERS } from './iresnet.js';
import {
  buildMobileFaceNet,
  mobilefacenetInit,
  MOBILEFACENET_BLOCKS,
  MOBILEFACENET_SCALE,
} from './mobilefacenet.js';
import type { Backbone, BackboneConfig, BackboneName, WeightSpec } from './types.js';

export type * from './types.js';
export { IRESNET_FC_SCALE, IRESNET_LAYERS } from './iresnet.js';
export { MOBILEFACENET_BLOCKS, MOBILEFACENET_SCALE } from './mobilefacenet.js';
// dlib's ResNet (the default recogniser) keeps face-api's weight names and its own contract
// (150x150 input, no batch norm), so it is created by createDlibResnet, not createBackbone.
export {
  createDlibResnet,
  loadDlibResnetWeights,
  loadPretrainedDlibResnet,
  DLIB_RESNET,
  DLIB_RESNET_DIM,
  DLIB_RESNET_MEAN,
  DLIB_RESNET_SIZE,
  DLIB_RESNET_STD,
  type DlibResnetBackbone,
  type DlibResnetConfig,
} from './dlib_resnet.js';
export { batchNorm, prelu, conv2d, dense, torchToTfjs, tfjsToTorch, BN_EPS, BN_MOMENTUM } from './layers.js';

export const BACKBONE_NAMES: readonly BackboneName[] = [
  'iresnet18',
  'iresnet34',
  'iresnet50',
  'iresnet100',
  'mobilefacenet',
];

function badConfig(message: string): ArcfaceError {
  return new ArcfaceError('BAD_CONFIG', `backbone config: ${message}`);
}

const positiveInt = (v: unknown) => Number.isInteger(v) && (v as number) > 0;

/** Fills in arcface_torch's defaults and rejects what the definitions cannot build. */
export function resolveBackboneConfig(
  config: Partial<BackboneConfig> & { name: BackboneName },
): BackboneConfig {
  if (!BACKBONE_NAMES.includes(config.name)) {
    throw badConfig(`unknown name "${config.name}" (use ${BACKBONE_NAMES.join(', ')})`);
  }
  const c: BackboneConfig = { embeddingSize: 512, inputSize: 112, seed: 1, ...config };
  if (!positiveInt(c.embeddingSize))
    throw badConfig(`embeddingSize must be a positive integer, got ${c.embeddingSize}`);
  if (c.inputSize !== 112)
    throw badConfig(`inputSize must be 112 (the 7x7 map of fc_scale), got ${c.inputSize}`);
  if (c.name === 'mobilefacenet') {
    c.blocks = [...(c.blocks ?? MOBILEFACENET_BLOCKS)];
    c.scale = c.scale ?? MOBILEFACENET_SCALE;
    if (c.blocks.length !== 4 || !c.blocks.every(positiveInt)) {
      throw badConfig(`blocks must be 4 positive integers, got [${c.blocks}]`);
    }
    if (!positiveInt(c.scale)) throw badConfig(`scale must be a positive integer, got ${c.scale}`);
    if (c.dropout) throw badConfig('dropout applies to the IResNets only (MobileFaceNet has none)');
  } else {
    if (c.blocks !== undefined || c.scale !== undefined) {
      throw badConfig(`blocks and scale apply to mobilefacenet only, not ${c.name}`);
    }
    c.dropout = c.dropout ?? 0;
    if (!(c.dropout >= 0 && c.dropout < 1)) throw badConfig(`dropout must be in [0, 1), got ${c.dropout}`);
  }
  return c;
}

export function createBackbone(config: Partial<BackboneConfig> & { name: BackboneName }): Backbone {
  const cfg = resolveBackboneConfig(config);
  const random = rng(cfg.seed ?? 1);
  let b: GraphBuilder;
  let graph;
  if (cfg.name === 'mobilefacenet') {
    b = new GraphBuilder(mobilefacenetInit(random));
    graph = buildMobileFaceNet(b, cfg.blocks!, cfg.scale!, cfg.embeddingSize);
  } else {
    b = new GraphBuilder(iresnetInit(random));
    graph = buildIResNet(b, IRESNET_LAYERS[cfg.name], cfg.embeddingSize, cfg.dropout ?? 0);
  }
  const { weights, specs } = b;
  const trainable = specs.filter((s) => s.trainable).map((s) => weights.get(s.name)!);
  let dropoutSeed = (cfg.seed ?? 1) * 1000003;
  const size = cfg.inputSize;
  return {
    config: cfg,
    trainable,
    namedWeights: () => new Map(weights),
    weightSpecs: () => specs.map((s) => ({ ...s, torchShape: [...s.torchShape] })),
    apply(x, training, seed?: number) {
      if (x.rank !== 4 || x.shape[1] !== size || x.shape[2] !== size || x.shape[3] !== 3) {
        throw badShape(`${cfg.name}.apply: input must be NHWC [N, ${size}, ${size}, 3], got [${x.shape}]`);
      }
      if (x.dtype !== 'float32') throw badShape(`${cfg.name}.apply: input must be float32, got ${x.dtype}`);
      // The trainer's seed (drawn from its checkpointed stream) makes dropout masks repeat on
      // resume and across data-parallel workers; without one, an internal counter.
      let next = seed;
      const draw = () => (next !== undefined ? next++ : dropoutSeed++);
      return tf.tidy(() => runGraph(graph, weights, x, training, draw) as tf.Tensor2D);
    },
    paramCount: () => trainable.reduce((n, v) => n + v.size, 0),
    graph: () => structuredClone(graph),
    dispose() {
      for (const v of weights.values()) v.dispose();
    },
  };
}

/** One tensor of a PyTorch state_dict: its shape and values in C order. */
export interface TorchTensor {
  shape: number[];
  data: Float32Array;
}

/**
 * Loads PyTorch weights by name (every state_dict entry but num_batches_tracked must be there),
 * transposing to our layouts. Throws BAD_SHAPE naming the first missing or mis-shaped entry.
 */
export function loadTorchStateDict(
  backbone: Backbone,
  get: (spec: WeightSpec) => TorchTensor | undefined,
): void {
  const weights = backbone.namedWeights();
  for (const spec of backbone.weightSpecs()) {
    const t = get(spec);
    if (!t) throw badShape(`state_dict of ${backbone.config.name}: missing "${spec.name}"`);
    if (t.shape.join() !== spec.torchShape.join()) {
      throw badShape(
        `state_dict of ${backbone.config.name}: "${spec.name}" has shape [${t.shape}], expected [${spec.torchShape}]`,
      );
    }
    const v = weights.get(spec.name)!;
    tf.tidy(() => v.assign(tf.tensor(torchToTfjs(t.data, spec), tfjsShape(spec))));
  }
}

/** The weights in PyTorch's names, order and layouts (num_batches_tracked left out). */
export function toTorchStateDict(backbone: Backbone): Map<string, TorchTensor> {
  const weights = backbone.namedWeights();
  const out = new Map<string, TorchTensor>();
  for (const spec of backbone.weightSpecs()) {
    const data = weights.get(spec.name)!.dataSync() as Float32Array;
    out.set(spec.name, { shape: spec.torchShape, data: tfjsToTorch(data, spec) });
  }
  return out;
}
