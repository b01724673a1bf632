/**
 * dlib's dlib_face_recognition_resnet_model_v1 (as ported to tfjs by face-api.js, FaceRecognitionNet)
 * as an NCHW ONNX graph: input `input` [N, 3, 150, 150], already normalised ((RGB - mean) / 255, the
 * Embedder fills it from the manifest), output `embedding` [N, 128], not normalised.
 *
 * The forward pass follows face-api's faceRecognitionNet/*.ts layer for layer:
 *   conv 7x7/2 'valid' (150 -> 72), max pool 3x3/2 'valid' (-> 35),
 *   3 x residual(32), residualDown(64) (-> 17), 3 x residual(64), residualDown(128) (-> 8),
 *   2 x residual(128), residualDown(256) (-> 4), 2 x residual(256), residualDown(256) (-> 2),
 *   global average pool, x fc [256, 128].
 * Every conv is conv + bias, then the scale layer (x * weights + biases), then ReLU unless it is
 * the second conv of a residual block. residualDown's first conv is 3x3/2 'valid' and its shortcut
 * is a 2x2/2 'valid' average pool of the block input, zero-padded in channels (concat with zeros
 * of its own shape) when the block widens; when the conv path comes out one pixel smaller than the
 * pooled shortcut (8 -> 3 vs 4, 4 -> 1 vs 2) face-api appends one zero row at the bottom and one
 * zero column at the right of the conv path before the sum.
 */
import { ArcfaceError } from '../errors.js';
import { GraphBuilder } from './graph.js';
import { weight, type TfjsWeight } from './tfjs_tensors.js';

export const DLIB_INPUT = 'input';
export const DLIB_OUTPUT = 'embedding';
export const DLIB_SIZE = 150;
export const DLIB_DIM = 128;

/** Side of a 'valid' window of size k and stride s over n pixels (TensorFlow and ONNX agree). */
const validOut = (n: number, k: number, s: number) => Math.floor((n - k) / s) + 1;

/** The graph under construction and the shape (channels, side) of the value it is at. */
interface At {
  x: string;
  c: number;
  side: number;
}

/**
 * One of face-api's convLayer()s as a single Conv. The scale layer is per output channel and
 * convolution is linear in its filter, so (conv_w(x) + b) * s + c = conv_{w*s}(x) + (b*s + c)
 * exactly in real arithmetic (float rounding aside); 'valid' vs 'same' padding does not matter, as
 * zero padding is applied to x, not to the output.
 */
function convLayer(
  g: GraphBuilder,
  weights: Map<string, TfjsWeight>,
  x: string,
  prefix: string,
  shape: [number, number, number, number],
  stride: number,
  pad: 'same' | 'valid',
  relu: boolean,
): string {
  const cout = shape[3];
  const filter = weight(weights, `${prefix}/conv/filters`, shape);
  const bias = weight(weights, `${prefix}/conv/bias`, [cout]).data;
  const s = weight(weights, `${prefix}/scale/weights`, [cout]).data;
  const c = weight(weights, `${prefix}/scale/biases`, [cout]).data;
  // HWIO: the output channel is the innermost axis. (Plain loops: Float32Array.from with a
  // mapping function goes through an iterator, 30x slower on these 5.6M weights.)
  const w = new Float32Array(filter.data.length);
  for (let i = 0; i < w.length; i += cout)
    for (let o = 0; o < cout; o++) w[i + o] = filter.data[i + o] * s[o];
  const b = new Float32Array(cout);
  for (let o = 0; o < cout; o++) b[o] = bias[o] * s[o] + c[o];
  const y = g.conv(x, { shape, data: w }, b, stride, pad, prefix.replace(/\//g, '_'));
  return relu ? g.op('Relu', [y]) : y;
}

function residual(g: GraphBuilder, weights: Map<string, TfjsWeight>, at: At, prefix: string): At {
  const k: [number, number, number, number] = [3, 3, at.c, at.c];
  let y = convLayer(g, weights, at.x, `${prefix}/conv1`, k, 1, 'same', true);
  y = convLayer(g, weights, y, `${prefix}/conv2`, k, 1, 'same', false);
  return { ...at, x: g.op('Relu', [g.op('Add', [y, at.x])]) };
}

function residualDown(
  g: GraphBuilder,
  weights: Map<string, TfjsWeight>,
  at: At,
  prefix: string,
  cout: number,
): At {
  let y = convLayer(g, weights, at.x, `${prefix}/conv1`, [3, 3, at.c, cout], 2, 'valid', true);
  y = convLayer(g, weights, y, `${prefix}/conv2`, [3, 3, cout, cout], 1, 'same', false);
  const convSide = validOut(at.side, 3, 2);
  const side = validOut(at.side, 2, 2);
  let shortcut = g.op('AveragePool', [at.x], {
    kernel_shape: { ints: [2, 2] },
    strides: { ints: [2, 2] },
    pads: { ints: [0, 0, 0, 0] },
  });
  // face-api concatenates zeros shaped like the pooled shortcut: the widening must be a doubling.
  if (cout !== at.c) {
    if (cout !== 2 * at.c)
      throw new ArcfaceError(
        'BAD_SHAPE',
        `dlib-resnet ${prefix}: ${at.c} -> ${cout} channels is not a doubling`,
      );
    shortcut = g.op('Pad', [shortcut, g.int64('pads', [0, 0, 0, 0, 0, at.c, 0, 0])]);
  }
  // One zero row (bottom) and column (right), as face-api's concat along H then W; any other
  // mismatch would make face-api's tf.add throw, so it does here.
  if (convSide !== side) {
    if (convSide !== side - 1)
      throw new ArcfaceError('BAD_SHAPE', `dlib-resnet ${prefix}: conv path ${convSide} vs shortcut ${side}`);
    y = g.op('Pad', [y, g.int64('pads', [0, 0, 0, 0, 0, 0, 1, 1])]);
  }
  return { x: g.op('Relu', [g.op('Add', [y, shortcut])]), c: cout, side };
}

/** face-api's face_recognition_model weights (readTfjsWeights) -> ONNX model bytes. */

/**
 * The residual blocks after the stem, as face-api's FaceRecognitionNet names them: weight prefix and
 * output channels ('_down': strided). The trainable backbone (src/backbones/dlib_resnet.ts) reads it too.
 */
export const DLIB_RESNET_BLOCKS = [
  ['conv32_1', 32],
  ['conv32_2', 32],
  ['conv32_3', 32],
  ['conv64_down', 64],
  ['conv64_1', 64],
  ['conv64_2', 64],
  ['conv64_3', 64],
  ['conv128_down', 128],
  ['conv128_1', 128],
  ['conv128_2', 128],
  ['conv256_down', 256],
  ['conv256_1', 256],
  ['conv256_2', 256],
  ['conv256_down_out', 256],
] as const;

export function dlibResnetToOnnx(weights: Map<string, TfjsWeight>): Uint8Array {
  const g = new GraphBuilder();
  let x = convLayer(g, weights, DLIB_INPUT, 'conv32_down', [7, 7, 3, 32], 2, 'valid', true);
  x = g.op('MaxPool', [x], {
    kernel_shape: { ints: [3, 3] },
    strides: { ints: [2, 2] },
    pads: { ints: [0, 0, 0, 0] },
  });
  let at: At = { x, c: 32, side: validOut(validOut(DLIB_SIZE, 7, 2), 3, 2) };
  for (const [prefix, cout] of DLIB_RESNET_BLOCKS)
    at = prefix.includes('_down')
      ? residualDown(g, weights, at, prefix, cout)
      : residual(g, weights, at, prefix);
  const pooled = g.op('Flatten', [g.op('GlobalAveragePool', [at.x])], { axis: { int: 1 } });
  const fc = weight(weights, 'fc', [at.c, DLIB_DIM]);
  const out = g.op('MatMul', [pooled, g.constant('fc', fc.shape, fc.data)]);
  return g.encode(
    'dlib_face_recognition_resnet_model_v1',
    [{ name: DLIB_INPUT, dims: ['N', 3, DLIB_SIZE, DLIB_SIZE] }],
    [{ value: out, info: { name: DLIB_OUTPUT, dims: ['N', DLIB_DIM] } }],
    {
      docString:
        "dlib's face recognition ResNet v1 (public domain), from face-api.js's tfjs weights; input (RGB - [122.782, 117.001, 104.298]) / 255",
    },
  );
}
