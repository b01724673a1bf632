/**
 * The toy experiment of the paper (Fig. 3): the same small CNN with 2-D features, trained from
 * the same initial weights on the same batches, once without a margin and once with ArcFace.
 * Features and class centres are L2-normalised in both runs, so the only difference is the
 * additive angular margin; the result is the angular gap it opens between classes.
 */
import { existsSync } from 'node:fs';
import { tf } from '../runtime/backend.js';
import { MarginHead, arcFace, normSoftmax, type MarginLoss } from '../losses/index.js';
import { loadOrlToy, syntheticToy, toyBatch, type ToyData } from './data.js';
import { toyNet } from './net.js';
import { classArcs, featureAngles, minInterClassGap, type ClassArc } from './gaps.js';
import { rng, shuffle } from '../util/random.js';

export interface ToyOptions {
  /** ORL faces folder; the generated set is used when absent or null. */
  orlDir?: string | null;
  classes?: number;
  steps?: number;
  batchSize?: number;
  learningRate?: number;
  /** Feature scale s of both heads. */
  scale?: number;
  /** ArcFace additive angular margin m (radians). */
  margin?: number;
  seed?: number;
  onStep?: (run: string, step: number, total: number, loss: number) => void;
}

export interface ToyRun {
  loss: string;
  minGapDeg: number;
  /** Training-set accuracy by nearest class centre (cosine). */
  accuracy: number;
  finalLoss: number;
  /** Normalised 2-D features, interleaved x,y. */
  features: number[];
  labels: number[];
  /** Normalised class centres (rows of W), interleaved x,y. */
  centres: number[];
  arcs: ClassArc[];
  /** Per class, the widest angle between two of its features (intra-class spread), degrees. */
  maxClassSpreadDeg: number;
}

export interface ToyResult {
  source: ToyData['source'];
  identities: string[];
  images: number;
  steps: number;
  softmax: ToyRun;
  arcface: ToyRun;
}

const DEG = 180 / Math.PI;

function trainOne(data: ToyData, loss: MarginLoss, label: string, o: Required<Omit<ToyOptions, 'orlDir' | 'onStep'>> & Pick<ToyOptions, 'onStep'>): ToyRun {
  const net = toyNet(data.height, data.width, 2, o.seed);
  const head = new MarginHead({ numClasses: data.identities.length, embeddingSize: 2, loss, seed: o.seed + 1 });
  const optimizer = tf.train.adam(o.learningRate);
  const random = rng(o.seed + 2);
  let order: number[] = [];
  let lastLoss = NaN;
  const varList = [...net.variables, head.weight];
  for (let step = 0; step < o.steps; step++) {
    if (order.length < o.batchSize) order = order.concat(shuffle([...Array(data.count).keys()], random));
    const idx = order.splice(0, o.batchSize);
    const { x, y } = toyBatch(data, idx, random);
    const xs = tf.tensor4d(x, [idx.length, data.height, data.width, 1]);
    const ys = tf.tensor1d(y, 'int32');
    const cost = optimizer.minimize(
      () => {
        const { loss: l, logits, cos } = head.forward(net.apply(xs), ys);
        logits.dispose();
        cos.dispose();
        return l;
      },
      true,
      varList,
    );
    lastLoss = cost!.dataSync()[0];
    cost!.dispose();
    xs.dispose();
    ys.dispose();
    if (!Number.isFinite(lastLoss)) throw new Error(`toy ${label}: loss became ${lastLoss} at step ${step}`);
    o.onStep?.(label, step + 1, o.steps, lastLoss);
  }
  optimizer.dispose();

  const all = [...Array(data.count).keys()];
  const { x } = toyBatch(data, all, null);
  const { feats, centres } = tf.tidy(() => {
    const f = tf.div(net.apply(tf.tensor4d(x, [data.count, data.height, data.width, 1])), 1) as tf.Tensor2D;
    return {
      feats: tf.keep(tf.div(f, tf.norm(f, 2, 1, true))),
      centres: tf.keep(tf.div(head.weight, tf.norm(head.weight, 2, 1, true))),
    };
  });
  const features = Array.from(feats.dataSync());
  const c = Array.from(centres.dataSync());
  feats.dispose();
  centres.dispose();
  net.dispose();
  head.dispose();

  const labels = Array.from(data.labels);
  const angles = featureAngles(features);
  let correct = 0;
  for (let i = 0; i < data.count; i++) {
    let best = -Infinity;
    let arg = -1;
    for (let k = 0; k < c.length / 2; k++) {
      const cos = features[2 * i] * c[2 * k] + features[2 * i + 1] * c[2 * k + 1];
      if (cos > best) [best, arg] = [cos, k];
    }
    if (arg === labels[i]) correct++;
  }
  const arcs = classArcs(angles, labels);
  return {
    loss: loss.name === 'norm-softmax' ? `softmax on normalised features (s=${loss.scale}, no margin)` : `${loss.name} (s=${loss.scale}, m=${o.margin})`,
    minGapDeg: minInterClassGap(angles, labels) * DEG,
    accuracy: correct / data.count,
    finalLoss: lastLoss,
    features,
    labels,
    centres: c,
    arcs,
    maxClassSpreadDeg: Math.max(...arcs.map((a) => a.width)) * DEG,
  };
}

export function runToy(options: ToyOptions = {}): ToyResult {
  const o = {
    classes: options.classes ?? 8,
    steps: options.steps ?? 600,
    batchSize: options.batchSize ?? 40,
    learningRate: options.learningRate ?? 0.003,
    scale: options.scale ?? 16,
    margin: options.margin ?? 0.5,
    seed: options.seed ?? 1,
    onStep: options.onStep,
  };
  const dir = options.orlDir;
  const data = dir && existsSync(dir) ? loadOrlToy(dir, o.classes) : syntheticToy(o.classes);
  const softmax = trainOne(data, normSoftmax({ s: o.scale }), 'softmax', o);
  const arcface = trainOne(data, arcFace({ s: o.scale, m: o.margin }), 'arcface', o);
  return { source: data.source, identities: data.identities, images: data.count, steps: o.steps, softmax, arcface };
}
