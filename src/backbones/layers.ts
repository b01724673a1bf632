/**
 * The layers both backbones are made of, as small functions over tfjs-core variables, plus the
 * builder that names weights as PyTorch does and the interpreter that runs a BackboneGraph.
 *
 * BN and PReLU each live in one function here (`batchNorm`, `prelu`) so that a fused
 * custom-gradient version can replace them in one place.
 */
import { tf } from '../runtime/backend.js';
import { ArcfaceError, badShape } from '../errors.js';
import type { BackboneGraph, GraphNode, WeightLayout, WeightSpec } from './types.js';

/** PyTorch's BatchNorm defaults, which both arcface_torch backbones keep. */
export const BN_EPS = 1e-5;
export const BN_MOMENTUM = 0.1;

export interface ConvAttrs {
  kernel: number;
  stride: number;
  padding: number;
  groups: number;
  inChannels: number;
  outChannels: number;
}

/**
 * Conv2d as PyTorch's (symmetric explicit padding; 'same' would pad stride-2 convs bottom-right
 * only). Filters are [kh, kw, I, O/G]: G = 1 is tf.conv2d's filter, G = I = O a depthwise filter,
 * and any other G a depthwise conv with channel multiplier O/G whose outputs are summed per group
 * (MobileFaceNet's 64-group 3x3 conv has 2 in and 2 out channels per group).
 */
export function conv2d(x: tf.Tensor4D, w: tf.Tensor4D, a: ConvAttrs, bias?: tf.Tensor1D): tf.Tensor4D {
  return tf.tidy(() => {
    let y: tf.Tensor4D;
    if (a.groups === 1) y = tf.conv2d(x, w, a.stride, a.padding);
    else if (a.groups === a.inChannels && a.groups === a.outChannels) {
      y = tf.depthwiseConv2d(x, w, a.stride, a.padding);
    } else {
      const inPer = a.inChannels / a.groups;
      const outPer = a.outChannels / a.groups;
      // Channel (g * inPer + i) * outPer + o of the depthwise output is input i's share of output o of group g.
      const d = tf.depthwiseConv2d(x, w, a.stride, a.padding);
      const [n, h, wd] = d.shape;
      y = tf.reshape(tf.sum(tf.reshape(d, [n, h, wd, a.groups, inPer, outPer]), 4), [
        n,
        h,
        wd,
        a.outChannels,
      ]);
    }
    return bias ? tf.add(y, bias) : y;
  });
}

export interface BatchNormWeights {
  weight: tf.Variable;
  bias: tf.Variable;
  runningMean: tf.Variable;
  runningVar: tf.Variable;
  eps: number;
  momentum: number;
}

/**
 * BatchNorm1d/2d over the last axis of x ([N, C] or NHWC). Training: batch mean and biased variance
 * normalise; the running statistics move by `momentum` toward the batch mean and the *unbiased*
 * variance, as torch.nn.BatchNorm does.
 */
export function batchNorm(x: tf.Tensor, bn: BatchNormWeights, training: boolean): tf.Tensor {
  if (!training) return tf.batchNorm(x, bn.runningMean, bn.runningVar, bn.bias, bn.weight, bn.eps);
  const count = x.size / x.shape[x.rank - 1];
  if (count < 2) {
    throw badShape(
      `batch norm in training mode needs more than 1 value per channel (input shape [${x.shape}]); use a batch of 2 or more`,
    );
  }
  const axes = [...Array(x.rank - 1).keys()];
  const { mean, variance } = tf.moments(x, axes);
  const m = bn.momentum;
  tf.tidy(() => {
    bn.runningMean.assign(tf.add(tf.mul(bn.runningMean, 1 - m), tf.mul(mean, m)));
    const unbiased = tf.mul(variance, count / (count - 1));
    bn.runningVar.assign(tf.add(tf.mul(bn.runningVar, 1 - m), tf.mul(unbiased, m)));
  });
  return tf.batchNorm(x, mean, variance, bn.bias, bn.weight, bn.eps);
}

/** PReLU with one slope per channel (last axis). */
export function prelu(x: tf.Tensor, alpha: tf.Tensor1D): tf.Tensor {
  return tf.prelu(x, alpha);
}

/** Linear: x [N, I] times w [I, O] (PyTorch's weight transposed), plus bias. */
export function dense(x: tf.Tensor2D, w: tf.Tensor2D, bias?: tf.Tensor1D): tf.Tensor2D {
  const y = tf.matMul(x, w);
  return bias ? (tf.add(y, bias) as tf.Tensor2D) : (y as tf.Tensor2D);
}

/** PyTorch-shape -> tfjs-shape of a weight. */
export function tfjsShape(spec: Pick<WeightSpec, 'torchShape' | 'layout' | 'groups'>): number[] {
  const s = spec.torchShape;
  if (spec.layout === 'conv') return [s[2], s[3], s[1] * spec.groups, s[0] / spec.groups];
  if (spec.layout === 'linear') return [s[1], s[0]];
  return [...s];
}

/**
 * Reorders a weight from PyTorch's layout to ours. conv: [O, I/G, kh, kw] read as
 * [G, O/G, I/G, kh, kw], transposed to [kh, kw, G, I/G, O/G] = [kh, kw, I, O/G]; linear: [O, I] -> [I, O].
 */
export function torchToTfjs(data: Float32Array, spec: Pick<WeightSpec, 'torchShape' | 'layout' | 'groups'>) {
  return reorder(data, spec, true);
}

/** The inverse of torchToTfjs. */
export function tfjsToTorch(data: Float32Array, spec: Pick<WeightSpec, 'torchShape' | 'layout' | 'groups'>) {
  return reorder(data, spec, false);
}

function reorder(
  data: Float32Array,
  spec: Pick<WeightSpec, 'torchShape' | 'layout' | 'groups'>,
  toTfjs: boolean,
): Float32Array {
  const size = spec.torchShape.reduce((a, b) => a * b, 1);
  if (data.length !== size) {
    throw badShape(`weight of shape [${spec.torchShape}] needs ${size} values, got ${data.length}`);
  }
  if (spec.layout === 'vector') return Float32Array.from(data);
  const out = new Float32Array(size);
  if (spec.layout === 'linear') {
    const [o, i] = spec.torchShape;
    for (let r = 0; r < o; r++) {
      for (let c = 0; c < i; c++) {
        if (toTfjs) out[c * o + r] = data[r * i + c];
        else out[r * i + c] = data[c * o + r];
      }
    }
    return out;
  }
  const [outC, inPer, kh, kw] = spec.torchShape;
  const g = spec.groups;
  const outPer = outC / g;
  for (let gi = 0; gi < g; gi++) {
    for (let o = 0; o < outPer; o++) {
      for (let i = 0; i < inPer; i++) {
        for (let y = 0; y < kh; y++) {
          for (let x = 0; x < kw; x++) {
            const t = ((((gi * outPer + o) * inPer + i) * kh + y) * kw + x) | 0;
            const f = (((y * kw + x) * g + gi) * inPer + i) * outPer + o;
            if (toTfjs) out[f] = data[t];
            else out[t] = data[f];
          }
        }
      }
    }
  }
  return out;
}

let instances = 0;

/** Initial values of one weight, given its spec (PyTorch layout, C order). */
export type Initialiser = (spec: WeightSpec) => Float32Array;

/**
 * Declares weights in PyTorch's module registration order (= state_dict order) and nodes in
 * execution order; the two orders differ in IBasicBlock, whose downsample is registered last.
 */
export class GraphBuilder {
  readonly specs: WeightSpec[] = [];
  readonly weights = new Map<string, tf.Variable>();
  readonly nodes: GraphNode[] = [];
  private readonly prefix = `backbone${instances++}`;

  constructor(private readonly init: Initialiser) {}

  weight(
    name: string,
    module: WeightSpec['module'],
    torchShape: number[],
    layout: WeightLayout,
    groups = 1,
    trainable = true,
  ): string {
    const spec: WeightSpec = { name, module, torchShape, layout, groups, trainable };
    const values = torchToTfjs(this.init(spec), spec);
    this.specs.push(spec);
    this.weights.set(
      name,
      tf.variable(tf.tensor(values, tfjsShape(spec)), trainable, `${this.prefix}/${name}`),
    );
    return name;
  }

  /** conv + its weight; returns the output value name (= module path). */
  conv(name: string, input: string, a: ConvAttrs): string {
    const w = this.weight(
      `${name}.weight`,
      'conv',
      [a.outChannels, a.inChannels / a.groups, a.kernel, a.kernel],
      'conv',
      a.groups,
    );
    return this.node({ op: 'conv', name, inputs: [input], attrs: { ...a, bias: false }, weights: [w] });
  }

  batchNorm(name: string, input: string, channels: number, frozenWeight = false): string {
    const w = this.weight(`${name}.weight`, 'batchnorm', [channels], 'vector', 1, !frozenWeight);
    const b = this.weight(`${name}.bias`, 'batchnorm', [channels], 'vector');
    const rm = this.weight(`${name}.running_mean`, 'batchnorm', [channels], 'vector', 1, false);
    const rv = this.weight(`${name}.running_var`, 'batchnorm', [channels], 'vector', 1, false);
    return this.node({
      op: 'batchnorm',
      name,
      inputs: [input],
      attrs: { eps: BN_EPS, momentum: BN_MOMENTUM, channels },
      weights: [w, b, rm, rv],
    });
  }

  prelu(name: string, input: string, channels: number): string {
    const w = this.weight(`${name}.weight`, 'prelu', [channels], 'vector');
    return this.node({ op: 'prelu', name, inputs: [input], attrs: {}, weights: [w] });
  }

  linear(name: string, input: string, inFeatures: number, outFeatures: number, bias: boolean): string {
    const ws = [this.weight(`${name}.weight`, 'linear', [outFeatures, inFeatures], 'linear')];
    if (bias) ws.push(this.weight(`${name}.bias`, 'linear', [outFeatures], 'vector'));
    return this.node({
      op: 'linear',
      name,
      inputs: [input],
      attrs: { inFeatures, outFeatures, bias },
      weights: ws,
    });
  }

  node(n: Omit<GraphNode, 'output'>): string {
    if (this.nodes.some((m) => m.name === n.name)) {
      throw new ArcfaceError('BAD_CONFIG', `backbones/layers.ts: duplicate node name "${n.name}"`);
    }
    this.nodes.push({ ...n, output: n.name });
    return n.name;
  }
}

/** Runs a graph's nodes in order; `dropoutSeed` is drawn once per dropout in training mode. */
export function runGraph(
  graph: BackboneGraph,
  weights: Map<string, tf.Variable>,
  x: tf.Tensor,
  training: boolean,
  dropoutSeed: () => number,
): tf.Tensor {
  const values = new Map<string, tf.Tensor>([[graph.input, x]]);
  const get = (name: string) => values.get(name)!;
  const w = (node: GraphNode, i: number) => weights.get(node.weights[i])!;
  for (const node of graph.nodes) {
    const input = get(node.inputs[0]);
    let y: tf.Tensor;
    switch (node.op) {
      case 'conv':
        y = conv2d(input as tf.Tensor4D, w(node, 0) as tf.Tensor4D, node.attrs as unknown as ConvAttrs);
        break;
      case 'batchnorm': {
        const bn = {
          weight: w(node, 0),
          bias: w(node, 1),
          runningMean: w(node, 2),
          runningVar: w(node, 3),
          eps: node.attrs.eps as number,
          momentum: node.attrs.momentum as number,
        };
        y = batchNorm(input, bn, training);
        break;
      }
      case 'prelu':
        y = prelu(input, w(node, 0) as tf.Tensor1D);
        break;
      case 'add':
        y = tf.add(input, get(node.inputs[1]));
        break;
      case 'flatten': {
        // PyTorch flattens NCHW: channel-major, so NHWC goes to NCHW first (a no-op at 1x1).
        const [n, h, wd, c] = input.shape;
        const nchw = h === 1 && wd === 1 ? input : tf.transpose(input, [0, 3, 1, 2]);
        y = tf.reshape(nchw, [n, h * wd * c]);
        break;
      }
      case 'dropout': {
        const p = node.attrs.p as number;
        y = training && p > 0 ? tf.dropout(input, p, undefined, dropoutSeed()) : input;
        break;
      }
      case 'linear':
        y = dense(
          input as tf.Tensor2D,
          w(node, 0) as tf.Tensor2D,
          node.weights.length > 1 ? (w(node, 1) as tf.Tensor1D) : undefined,
        );
        break;
    }
    values.set(node.output, y);
  }
  return get(graph.output);
}
