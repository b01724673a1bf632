/**
 * The loss comparison's backbone: a 5-conv net on 56x56 crops (the 112x112 aligned crops
 * average-pooled 2x2), conv3x3 -> BN -> PReLU each, then IResNet's output layer (BN -> flatten ->
 * FC -> BN1d) to a 128-d embedding. 46 MFLOP a face, ~1/10 of MobileFaceNet: small enough that
 * 11 losses x 3 seeds train within the 2-hour budget on 2 cores, and the same for every loss,
 * which is all the comparison needs. Built with the backbones' GraphBuilder, so training uses the
 * fused BN + PReLU kernels of src/backbones/layers.ts.
 */
import { tf } from '../src/runtime/backend.js';
import { GraphBuilder, runGraph } from '../src/backbones/layers.js';
import { mobilefacenetInit } from '../src/backbones/mobilefacenet.js';
import { rng } from '../src/util/random.js';
import type { TrainableModel } from '../src/train/index.js';

const LAYERS: [inC: number, outC: number, stride: number][] = [
  [3, 32, 2], // 28x28
  [32, 64, 2], // 14x14
  [64, 64, 1],
  [64, 128, 2], // 7x7
  [128, 128, 1],
];

export function smallFaceNet(embeddingSize: number, seed: number): TrainableModel & { paramCount: number } {
  const b = new GraphBuilder(mobilefacenetInit(rng(seed)));
  let x = 'input';
  LAYERS.forEach(([inC, outC, stride], i) => {
    x = b.conv(`conv${i}`, x, {
      inChannels: inC,
      outChannels: outC,
      kernel: 3,
      stride,
      padding: 1,
      groups: 1,
    });
    x = b.batchNorm(`bn${i}`, x, outC);
    x = b.prelu(`prelu${i}`, x, outC);
  });
  x = b.batchNorm('out_bn', x, 128);
  x = b.node({ op: 'flatten', name: 'flatten', inputs: [x], attrs: { order: 'nchw' }, weights: [] });
  x = b.linear('fc', x, 128 * 7 * 7, embeddingSize, false);
  x = b.batchNorm('features', x, embeddingSize);
  const graph = { input: 'input', output: x, nodes: b.nodes };
  const trainable = b.specs.filter((s) => s.trainable).map((s) => b.weights.get(s.name)!);
  return {
    trainable,
    paramCount: trainable.reduce((n, v) => n + v.size, 0),
    namedWeights: () => new Map(b.weights),
    apply: (input, training) =>
      tf.tidy(() => {
        const small = tf.avgPool(input, 2, 2, 'valid') as tf.Tensor4D;
        return runGraph(graph, b.weights, small, training, () => 0) as tf.Tensor2D;
      }),
  };
}
