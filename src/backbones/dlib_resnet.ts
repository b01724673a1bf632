/**
 * dlib's face recognition ResNet (dlib_face_recognition_resnet_model_v1, the default recogniser) as a
 * trainable tfjs backbone, so that training can start from the network the project already ships.
 * Same structure as face-api's FaceRecognitionNet and src/convert/dlib_resnet.ts (which documents
 * the strides, paddings and the zero-padding of residualDown's shortcut and conv path):
 *   conv 7x7/2 'valid' 32 -> max pool 3x3/2 'valid' -> residual 32 x3 -> down 64, 64 x3 -> down 128,
 *   128 x2 -> down 256, 256 x2 -> down 256 -> global average pool -> fc 256 -> 128 (no bias).
 * Every conv has a bias and is followed by dlib's "affine" layer, a per-channel scale and bias with no
 * running statistics; both stay separate trainable vectors here (the ONNX converter folds them into
 * the conv, which a trainer must not do: the fold would change what the learning rate acts on).
 *
 * Input: NHWC float32 [N, 150, 150, 3] of a dlib chip (alignment 'dlib', padding 0.25), RGB,
 * (v - DLIB_RESNET_MEAN) / 255 per channel: the inference model's pre-processing (zoo.ts's manifest).
 * Weights are named by face-api's tfjs paths ("conv64_down/conv1/scale/weights"), so the installed
 * package's weights load by name.
 */
import { tf } from '../runtime/backend.js';
import { badShape } from '../errors.js';
import { readTfjsWeights, weight, type TfjsWeight } from '../convert/tfjs_weights.js';
import { DLIB_RESNET_BLOCKS } from '../convert/dlib_resnet.js';
import { faceApiModelDir } from '../face/detectors/faceapi_dir.js';
import { rng } from '../util/random.js';
import { affineAct } from './affine_act.js';

export const DLIB_RESNET = 'dlib-resnet';
export const DLIB_RESNET_SIZE = 150;
export const DLIB_RESNET_DIM = 128;
/** Per-channel RGB mean subtracted before dividing by DLIB_RESNET_STD (dlib's, as face-api). */
export const DLIB_RESNET_MEAN = [122.782, 117.001, 104.298] as const;
export const DLIB_RESNET_STD = 255;
/** face-api's weights manifest name inside its model/ folder. */
export const DLIB_RESNET_WEIGHTS = 'face_recognition_model';

export interface DlibResnetConfig {
  name: typeof DLIB_RESNET;
  embeddingSize: typeof DLIB_RESNET_DIM;
  inputSize: typeof DLIB_RESNET_SIZE;
  /** Seed of the initial weights (before any pretrained ones are loaded). */
  seed: number;
}

export interface DlibResnetBackbone {
  readonly config: DlibResnetConfig;
  /** Every variable, all trainable, in face-api's weight order. */
  readonly trainable: tf.Variable[];
  /** The variables by face-api's weight path, in its manifest order. */
  namedWeights(): Map<string, tf.Variable>;
  /**
   * x: NHWC float32 [N, 150, 150, 3], already normalised. No batch statistics, so `training`
   * changes nothing; it is accepted for the trainer's call shape. Output [N, 128], not normalised.
   */
  apply(x: tf.Tensor4D, training?: boolean): tf.Tensor2D;
  paramCount(): number;
  dispose(): void;
}

/** The four vectors and filter of one face-api convLayer: conv (+bias), then scale and bias. */
interface ConvNames {
  filters: string;
  bias: string;
  scale: string;
  shift: string;
}

const convNames = (p: string): ConvNames => ({
  filters: `${p}/conv/filters`,
  bias: `${p}/conv/bias`,
  scale: `${p}/scale/weights`,
  shift: `${p}/scale/biases`,
});

/** Weight path -> shape, in face-api's manifest order. */
function weightShapes(): Map<string, number[]> {
  const out = new Map<string, number[]>();
  const conv = (p: string, k: number, cin: number, cout: number) => {
    const n = convNames(p);
    out.set(n.filters, [k, k, cin, cout]);
    out.set(n.bias, [cout]);
    out.set(n.scale, [cout]);
    out.set(n.shift, [cout]);
  };
  conv('conv32_down', 7, 3, 32);
  let cin = 32;
  for (const [p, cout] of DLIB_RESNET_BLOCKS) {
    conv(`${p}/conv1`, 3, cin, cout);
    conv(`${p}/conv2`, 3, cout, cout);
    cin = cout;
  }
  out.set('fc', [cin, DLIB_RESNET_DIM]);
  return out;
}

let instances = 0;

/**
 * A fresh dlib ResNet: filters and fc He-uniform from `seed`, conv biases and affine shifts 0,
 * affine scales 1. Load the pretrained weights with loadDlibResnetWeights.
 */
export function createDlibResnet(opts: { seed?: number } = {}): DlibResnetBackbone {
  const config: DlibResnetConfig = {
    name: DLIB_RESNET,
    embeddingSize: DLIB_RESNET_DIM,
    inputSize: DLIB_RESNET_SIZE,
    seed: opts.seed ?? 1,
  };
  const random = rng(config.seed);
  const prefix = `dlibresnet${instances++}`;
  const weights = new Map<string, tf.Variable>();
  for (const [name, shape] of weightShapes()) {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    if (shape.length > 1) {
      const fanIn = n / shape[shape.length - 1];
      const bound = Math.sqrt(6 / fanIn);
      for (let i = 0; i < n; i++) data[i] = (random() * 2 - 1) * bound;
    } else if (name.endsWith('/scale/weights')) data.fill(1);
    weights.set(name, tf.variable(tf.tensor(data, shape), true, `${prefix}/${name}`));
  }
  const trainable = [...weights.values()];
  const w = (name: string) => weights.get(name)!;

  // conv + bias, dlib's affine_ (scale, shift), then ReLU (and a block's shortcut before it): one op.
  const convLayer = (
    x: tf.Tensor4D,
    p: string,
    stride: number,
    pad: 'same' | 'valid',
    relu: boolean,
    residual?: tf.Tensor4D,
  ) => {
    const n = convNames(p);
    const z = tf.conv2d(x, w(n.filters) as tf.Tensor4D, stride, pad);
    const affine = { bias: w(n.bias), scale: w(n.scale), shift: w(n.shift) };
    return affineAct(z, affine, relu, residual) as tf.Tensor4D;
  };

  const block = (x: tf.Tensor4D, p: string, cout: number): tf.Tensor4D => {
    const cin = x.shape[3];
    if (!p.includes('_down')) {
      return convLayer(convLayer(x, `${p}/conv1`, 1, 'same', true), `${p}/conv2`, 1, 'same', true, x);
    }
    let y = convLayer(convLayer(x, `${p}/conv1`, 2, 'valid', true), `${p}/conv2`, 1, 'same', false);
    let shortcut = tf.avgPool(x, 2, 2, 'valid');
    // Widening: zeros for the new channels, as face-api's concat with zeros.
    if (cout !== cin)
      shortcut = tf.pad(shortcut, [
        [0, 0],
        [0, 0],
        [0, 0],
        [0, cout - cin],
      ]);
    // The 3x3/2 'valid' path can be one pixel short of the 2x2/2 pool: face-api pads bottom and right.
    const short = shortcut.shape[1] - y.shape[1];
    if (short > 0)
      y = tf.pad(y, [
        [0, 0],
        [0, short],
        [0, short],
        [0, 0],
      ]);
    return tf.relu(tf.add<tf.Tensor4D>(y, shortcut));
  };

  return {
    config,
    trainable,
    namedWeights: () => new Map(weights),
    apply(x) {
      const s = DLIB_RESNET_SIZE;
      if (x.rank !== 4 || x.shape[1] !== s || x.shape[2] !== s || x.shape[3] !== 3)
        throw badShape(`${DLIB_RESNET}.apply: input must be NHWC [N, ${s}, ${s}, 3], got [${x.shape}]`);
      if (x.dtype !== 'float32')
        throw badShape(`${DLIB_RESNET}.apply: input must be float32, got ${x.dtype}`);
      return tf.tidy(() => {
        let y = convLayer(x, 'conv32_down', 2, 'valid', true);
        y = tf.maxPool(y, 3, 2, 'valid');
        for (const [p, cout] of DLIB_RESNET_BLOCKS) y = block(y, p, cout);
        return tf.matMul(tf.mean(y, [1, 2]) as tf.Tensor2D, w('fc') as tf.Tensor2D);
      });
    },
    paramCount: () => trainable.reduce((n, v) => n + v.size, 0),
    dispose() {
      for (const v of weights.values()) v.dispose();
    },
  };
}

/** Assigns face-api's tfjs weights (readTfjsWeights) by path; a missing or mis-shaped one throws BAD_SHAPE. */
export function loadDlibResnetWeights(
  backbone: Pick<DlibResnetBackbone, 'namedWeights'>,
  source: Map<string, TfjsWeight>,
): void {
  for (const [name, v] of backbone.namedWeights()) {
    const t = weight(source, name, v.shape);
    tf.tidy(() => v.assign(tf.tensor(t.data, t.shape)));
  }
}

/**
 * The pretrained weights from the installed @vladmandic/face-api (its model/ folder, or `dir`):
 * the same file the default recogniser reads at run time, so nothing is downloaded or copied.
 */
export async function loadPretrainedDlibResnet(
  backbone: Pick<DlibResnetBackbone, 'namedWeights'>,
  dir: string = faceApiModelDir(),
): Promise<void> {
  loadDlibResnetWeights(backbone, await readTfjsWeights(dir, DLIB_RESNET_WEIGHTS));
}
