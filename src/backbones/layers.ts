/**
 * The layers both backbones are made of, as small functions over tfjs-core variables, plus the
 * builder that names weights as PyTorch does and the interpreter that runs a BackboneGraph.
 *
 * BN and PReLU each live in one function here (`batchNorm`, `prelu`); training-mode BN, and BN
 * followed by PReLU (a `runGraph` peephole), run as one custom-gradient op (`fusedBatchNorm`).
 */
import { tf } from '../runtime/backend.js';
import { BN_TRAIN, BN_TRAIN_GRAD, hasBatchNormKernels } from '../runtime/kernels/batch_norm.js';
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
 * variance, as torch.nn.BatchNorm does. Training mode is one custom-gradient op (`fusedBatchNorm`),
 * optionally with the PReLU that follows it (`alpha`), so autodiff keeps one tensor per layer.
 */
export function batchNorm(
  x: tf.Tensor,
  bn: BatchNormWeights,
  training: boolean,
  alpha?: tf.Tensor1D,
): tf.Tensor {
  if (!training) {
    const y = tf.batchNorm(x, bn.runningMean, bn.runningVar, bn.bias, bn.weight, bn.eps);
    return alpha ? tf.tidy(() => prelu(y, alpha)) : y;
  }
  const count = x.size / x.shape[x.rank - 1];
  if (count < 2) {
    throw badShape(
      `batch norm in training mode needs more than 1 value per channel (input shape [${x.shape}]); use a batch of 2 or more`,
    );
  }
  return fusedBatchNorm(x, bn, alpha);
}

/**
 * Training-mode BN (+ PReLU) as one tf.customGrad op. Autodiff of the composite (moments, then
 * batchNorm) keeps x - mean, its square, the broadcasts and rsqrt alive per layer until the
 * backward pass; this keeps only x̂ = (x - mean) / σ and the per-channel 1 / σ (plus γ, β, α).
 * Backward, with m = N·H·W values per channel (Ioffe & Szegedy 2015, §3's chain rule, collected):
 *   dβ = Σ dy,  dγ = Σ dy·x̂,  dx = (γ / σ) · (dy − dβ / m − x̂ · dγ / m).
 * With α, PReLU's gradient (PyTorch's: slope 1 where y > 0, α elsewhere; dα = Σ dz·min(y, 0)) is
 * applied first, on y = γ x̂ + β recomputed rather than kept.
 */
export function fusedBatchNorm(x: tf.Tensor, bn: BatchNormWeights, alpha?: tf.Tensor1D): tf.Tensor {
  const axes = [...Array(x.rank - 1).keys()];
  const count = x.size / x.shape[x.rank - 1];
  const m = bn.momentum;
  // Temporaries are disposed as soon as they are used: at the largest layers each full-size
  // tensor is tens of MB, and the op's tidy would otherwise hold them all to its end.
  const forward = (xin: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, a: tf.Tensor | undefined) => {
    const mean = tf.mean(xin, axes);
    const centred = tf.sub(xin, mean);
    const squared = tf.square(centred);
    const variance = tf.mean(squared, axes);
    squared.dispose();
    const invStd = tf.rsqrt(tf.add(variance, bn.eps));
    const xhat = tf.mul(centred, invStd);
    centred.dispose();
    tf.tidy(() => {
      bn.runningMean.assign(tf.add(tf.mul(bn.runningMean, 1 - m), tf.mul(mean, m)));
      const unbiased = tf.mul(variance, count / (count - 1));
      bn.runningVar.assign(tf.add(tf.mul(bn.runningVar, 1 - m), tf.mul(unbiased, m)));
    });
    const y = affine(xhat, gamma, beta);
    if (!a) return { y, xhat, invStd };
    const z = tf.prelu(y, a as tf.Tensor1D);
    y.dispose();
    return { y: z, xhat, invStd };
  };
  const backward = (dz: tf.Tensor, saved: tf.Tensor[]): tf.Tensor[] => {
    const [xhat, invStd, gamma, beta, a] = saved;
    let dy = dz;
    let dAlpha: tf.Tensor | undefined;
    if (a) {
      const y = affine(xhat, gamma, beta);
      dAlpha = tf.tidy(() => tf.sum(tf.mul(dz, tf.minimum(y, 0)), axes));
      dy = tf.tidy(() => tf.where(tf.greater(y, 0), dz, tf.mul(dz, a)));
      y.dispose();
    }
    const dBeta = tf.sum(dy, axes);
    const dGamma = tf.tidy(() => tf.sum(tf.mul(dy, xhat), axes));
    // dx = s·dy + x̂·k1 + k0 with per-channel s = γ/σ, k1 = −s·dγ/m, k0 = −s·dβ/m.
    const dx = tf.tidy(() => {
      const s = tf.mul(gamma, invStd);
      const k1 = tf.mul(s, tf.div(dGamma, -count));
      const k0 = tf.mul(s, tf.div(dBeta, -count));
      const sdy = tf.mul(dy, s);
      if (dy !== dz) dy.dispose();
      const xk = tf.mul(xhat, k1);
      const partial = tf.add(sdy, xk);
      tf.dispose([sdy, xk]);
      return tf.add(partial, k0);
    });
    return dAlpha ? [dx, dGamma, dBeta, dAlpha] : [dx, dGamma, dBeta];
  };
  // On wasm both directions are one kernel each (runtime/kernels/batch_norm.ts, same formulas).
  const native = hasBatchNormKernels(tf.getBackend());
  const nativeForward = (xin: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, a: tf.Tensor | undefined) => {
    const inputs: tf.NamedTensorMap = { x: xin, gamma, beta, ...(a ? { alpha: a } : {}) };
    const [y, xhat, mean, variance, invStd] = tf
      .engine()
      .runKernel(BN_TRAIN, inputs, { epsilon: bn.eps }) as tf.Tensor[];
    tf.tidy(() => {
      bn.runningMean.assign(tf.add(tf.mul(bn.runningMean, 1 - m), tf.mul(mean, m)));
      const unbiased = tf.mul(variance, count / (count - 1));
      bn.runningVar.assign(tf.add(tf.mul(bn.runningVar, 1 - m), tf.mul(unbiased, m)));
    });
    tf.dispose([mean, variance]);
    return { y, xhat, invStd };
  };
  const nativeBackward = (dz: tf.Tensor, saved: tf.Tensor[]): tf.Tensor[] => {
    const [xhat, invStd, gamma, beta, a] = saved;
    const inputs: tf.NamedTensorMap = { dz, xhat, gamma, beta, invStd, ...(a ? { alpha: a } : {}) };
    return tf.engine().runKernel(BN_TRAIN_GRAD, inputs) as tf.Tensor[];
  };
  const op = tf.customGrad((...args) => {
    const save = args.pop() as tf.GradSaveFunc;
    const [xin, gamma, beta, a] = args as tf.Tensor[];
    const { y, xhat, invStd } = (native ? nativeForward : forward)(xin, gamma, beta, a);
    save(a ? [xhat, invStd, gamma, beta, a] : [xhat, invStd, gamma, beta]);
    return { value: y, gradFunc: native ? nativeBackward : backward };
  });
  return alpha ? op(x, bn.weight, bn.bias, alpha) : op(x, bn.weight, bn.bias);
}

/** γ x̂ + β without keeping γ x̂. */
function affine(xhat: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor): tf.Tensor {
  const scaled = tf.mul(xhat, gamma);
  const y = tf.add(scaled, beta);
  scaled.dispose();
  return y;
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
  const fused = training ? fusablePReLUs(graph) : new Set<GraphNode>();
  for (const [k, node] of graph.nodes.entries()) {
    if (fused.has(node)) continue; // computed with the BN before it
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
        const next = graph.nodes[k + 1];
        if (next && fused.has(next)) {
          values.set(next.output, batchNorm(input, bn, training, w(next, 0) as tf.Tensor1D));
          continue;
        }
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

/**
 * The PReLUs that directly follow a BN whose output nothing else reads: training runs each such
 * pair as one op (`fusedBatchNorm` with alpha), which keeps one tensor for the backward, not two.
 */
function fusablePReLUs(graph: BackboneGraph): Set<GraphNode> {
  const readers = new Map<string, number>();
  for (const n of graph.nodes) for (const i of n.inputs) readers.set(i, (readers.get(i) ?? 0) + 1);
  const out = new Set<GraphNode>();
  graph.nodes.forEach((n, k) => {
    const next = graph.nodes[k + 1];
    if (
      n.op === 'batchnorm' &&
      next?.op === 'prelu' &&
      next.inputs[0] === n.output &&
      readers.get(n.output) === 1 &&
      n.output !== graph.output
    ) {
      out.add(next);
    }
  });
  return out;
}
