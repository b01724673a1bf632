/**
 * The toy experiment of the paper (Fig. 3): the same small CNN with 2-D features, trained from
 * the same initial weights on the same batches, once with the plain Softmax loss and once with
 * ArcFace. As in the paper's figure the features are shown L2-normalised on the unit circle;
 * each photo is embedded under several augmented views, so a class shows the region the network
 * maps its variations to, not only its 10 training photos. The result is the angular gap
 * between neighbouring classes.
 */
import { existsSync } from 'node:fs';
import { tf } from '../runtime/backend.js';
import { MarginHead, SoftmaxHead, arcFace, type HeadOutput } from '../losses/index.js';
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
  /** ArcFace feature scale s. */
  scale?: number;
  /** Augmented views per photo in the plotted features (0: the photos alone). */
  views?: number;
  /** ArcFace additive angular margin m (radians). */
  margin?: number;
  seed?: number;
  onStep?: (run: string, step: number, total: number, loss: number) => void;
}

export interface ToyRun {
  loss: string;
  minGapDeg: number;
  /** Accuracy on the plotted features (photos and their views): softmax by its logits, ArcFace by cos theta. */
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

interface ToyHead {
  weight: tf.Variable;
  variables: tf.Variable[];
  description: string;
  forward(e: tf.Tensor2D, labels: tf.Tensor1D): HeadOutput;
  dispose(): void;
}

type Settings = Required<Omit<ToyOptions, 'orlDir' | 'onStep'>> & Pick<ToyOptions, 'onStep'>;

function makeHead(kind: 'softmax' | 'arcface', classes: number, o: Settings): ToyHead {
  if (kind === 'softmax') {
    const h = new SoftmaxHead({ numClasses: classes, embeddingSize: 2, seed: o.seed + 1 });
    return {
      weight: h.weight,
      variables: [h.weight, h.bias],
      description: 'softmax (FC with bias on raw features)',
      forward: (e, l) => h.forward(e, l),
      dispose: () => {
        h.weight.dispose();
        h.bias.dispose();
      },
    };
  }
  const loss = arcFace({ s: o.scale, m: o.margin });
  const h = new MarginHead({ numClasses: classes, embeddingSize: 2, loss, seed: o.seed + 1 });
  return {
    weight: h.weight,
    variables: [h.weight],
    description: `arcface (s=${o.scale}, m=${o.margin})`,
    forward: (e, l) => h.forward(e, l),
    dispose: () => h.dispose(),
  };
}

function trainOne(data: ToyData, label: 'softmax' | 'arcface', o: Settings): ToyRun {
  const net = toyNet(data.height, data.width, 2, o.seed);
  const head = makeHead(label, data.identities.length, o);
  const optimizer = tf.train.adam(o.learningRate);
  const random = rng(o.seed + 2);
  let order: number[] = [];
  let lastLoss = NaN;
  const varList = [...net.variables, ...head.variables];
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

  // The photos themselves, then `views` augmented views of each (a fixed seed: both runs see the same).
  const all = [...Array(data.count).keys()];
  const viewRandom = rng(o.seed + 3);
  const batches = [toyBatch(data, all, null)];
  for (let v = 0; v < o.views; v++) batches.push(toyBatch(data, all, viewRandom));
  const features: number[] = [];
  const labels: number[] = [];
  let correct = 0;
  for (const { x, y } of batches) {
    const [f, pred] = tf.tidy(() => {
      const raw = net.apply(tf.tensor4d(x, [data.count, data.height, data.width, 1]));
      const out = head.forward(raw, tf.tensor1d(y, 'int32'));
      // Softmax decides by its logits (bias included); a margin head by cos theta, the margin being a training-only penalty.
      const scores = label === 'softmax' ? out.logits : out.cos;
      return [tf.div(raw, tf.norm(raw, 2, 1, true)).dataSync(), tf.argMax(scores, 1).dataSync()];
    });
    features.push(...f);
    labels.push(...y);
    pred.forEach((p, i) => (correct += p === y[i] ? 1 : 0));
  }
  const c = Array.from(tf.tidy(() => tf.div(head.weight, tf.norm(head.weight, 2, 1, true)).dataSync()));
  net.dispose();
  head.dispose();

  const angles = featureAngles(features);
  const arcs = classArcs(angles, labels);
  return {
    loss: head.description,
    minGapDeg: minInterClassGap(angles, labels) * DEG,
    accuracy: correct / labels.length,
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
    views: options.views ?? 10,
    margin: options.margin ?? 0.5,
    seed: options.seed ?? 1,
    onStep: options.onStep,
  };
  const dir = options.orlDir;
  const data = dir && existsSync(dir) ? loadOrlToy(dir, o.classes) : syntheticToy(o.classes);
  const softmax = trainOne(data, 'softmax', o);
  const arcface = trainOne(data, 'arcface', o);
  return {
    source: data.source,
    identities: data.identities,
    images: data.count,
    steps: o.steps,
    softmax,
    arcface,
  };
}
