/**
 * The backbone contract the trainer and the ONNX exporter program against.
 *
 * Weights carry PyTorch's state_dict names (arcface_torch `backbones/iresnet.py`,
 * `backbones/mobilefacenet.py`) and are held in tfjs layouts; `layers.ts` converts between the two
 * by a mechanical reshape/transpose (see `torchToTfjs`).
 */
import type { tf } from '../runtime/backend.js';

export type BackboneName = 'iresnet18' | 'iresnet34' | 'iresnet50' | 'iresnet100' | 'mobilefacenet';

export interface BackboneConfig {
  name: BackboneName;
  /** Size of the embedding (arcface_torch `num_features`), 512 by default. */
  embeddingSize: number;
  /** Only 112 (arcface_torch's fc_scale = 7 * 7 assumes it). */
  inputSize: 112;
  /** IResNet's dropout before the FC layer (arcface_torch default 0). */
  dropout?: number;
  /** MobileFaceNet blocks per stage, (1, 4, 6, 2) by default. */
  blocks?: number[];
  /** MobileFaceNet width scale, 2 by default. */
  scale?: number;
  /** Seed of the initial weights and of dropout masks. */
  seed?: number;
}

/** How a PyTorch tensor maps onto its tfjs variable. */
export type WeightLayout =
  /** PyTorch [O, I/G, kh, kw] -> tfjs [kh, kw, I, O/G] (G = groups; G = 1 is tf.conv2d's filter). */
  | 'conv'
  /** PyTorch [O, I] -> tfjs [I, O]. */
  | 'linear'
  /** Same shape and order in both (BN and PReLU vectors). */
  | 'vector';

export interface WeightSpec {
  /** PyTorch state_dict key, e.g. "layer1.0.conv1.weight". */
  name: string;
  torchShape: number[];
  layout: WeightLayout;
  /** The kind of module that owns it. */
  module: 'conv' | 'batchnorm' | 'prelu' | 'linear';
  /** Groups of a conv weight (1 otherwise). */
  groups: number;
  trainable: boolean;
}

export type GraphOp = 'conv' | 'batchnorm' | 'prelu' | 'add' | 'flatten' | 'dropout' | 'linear';

export interface GraphNode {
  op: GraphOp;
  /** PyTorch module path ("layer1.0.bn2"), unique. */
  name: string;
  /** Names of the values read: the graph input or earlier nodes' outputs. */
  inputs: string[];
  output: string;
  /**
   * conv: kernel, stride, padding (symmetric, PyTorch's), groups, inChannels, outChannels, bias;
   * batchnorm: eps, momentum, channels; flatten: order 'nchw' (PyTorch's flatten of NCHW);
   * dropout: p; linear: inFeatures, outFeatures, bias.
   */
  attrs: Record<string, number | string | boolean>;
  /** Weight names read, in PyTorch order (conv: weight[, bias]; batchnorm: weight, bias, running_mean, running_var). */
  weights: string[];
}

export interface BackboneGraph {
  /** Name of the input value: NHWC [N, 112, 112, 3] here, NCHW in PyTorch. */
  input: string;
  output: string;
  /** In execution order. */
  nodes: GraphNode[];
}

export interface Backbone {
  readonly config: BackboneConfig;
  /** Trainable variables in PyTorch's named_parameters order (frozen ones, like IResNet's features.weight, left out). */
  readonly trainable: tf.Variable[];
  /** Every tensor of PyTorch's state_dict (num_batches_tracked excepted), keyed by its name, in state_dict order. */
  namedWeights(): Map<string, tf.Variable>;
  /** PyTorch shape and layout of each named weight, in state_dict order. */
  weightSpecs(): WeightSpec[];
  /**
   * x: NHWC float32 [N, 112, 112, 3], already normalised ((v - 127.5) / 127.5). Training mode
   * normalises by batch statistics and updates the running ones (PyTorch momentum 0.1, unbiased
   * variance); inference uses the running statistics.
   */
  apply(x: tf.Tensor4D, training: boolean, seed?: number): tf.Tensor2D;
  /** Trainable parameters. */
  paramCount(): number;
  graph(): BackboneGraph;
  dispose(): void;
}
