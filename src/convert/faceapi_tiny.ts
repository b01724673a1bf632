/**
 * face-api's tiny face detector (tinyFaceDetector/ + tinyYolov2/ in @vladmandic/face-api, a
 * Tiny-YOLOv2 with separable convs) as an ONNX graph built in memory from
 * `tiny_face_detector_model` weights. Fully convolutional: any input whose sides are multiples of 32.
 *
 * Input `image` [1, 3, H, W]: RGB pixel values 0..255; the graph normalises as TinyYolov2Base:
 * (x - mean RGB) / 255. Output `grid` [1, 25, H/32, W/32]: per cell, 5 anchors x (tx, ty, tw, th,
 * objectness logit), channel = anchor * 5 + field (face-api's NHWC reshape order); decode with
 * TINY_ANCHORS: centre = (cell + sigmoid(t)) * 32, size = exp(t) * anchor * 32, score = sigmoid.
 *
 * Layers (runMobilenet, isFirstLayerConv2d): 3x3 conv 'valid' + leaky ReLU 0.1, then five
 * [2x2/2 max pool, separable conv + leaky] stages, a 2x2/1 max pool, a separable conv, a 1x1 conv.
 */
import { separable, rgbVector } from './faceapi_common.js';
import { GraphBuilder } from './graph.js';
import { weight, type TfjsWeight } from './tfjs_tensors.js';

/** tinyFaceDetector/const.ts: anchor (width, height) in cells. */
export const TINY_ANCHORS: readonly (readonly [number, number])[] = [
  [1.603231, 2.094468],
  [6.041143, 7.080126],
  [2.882459, 3.518061],
  [4.266906, 5.178857],
  [9.041765, 10.66308],
];
export const TINY_STRIDE = 32;
const MEAN_RGB = [117.001, 114.697, 97.404] as const;
/** leaky.ts: relu(x - 0.1x) + 0.1x, i.e. LeakyRelu with the float32 0.1. */
const LEAK = 0.10000000149011612;

/** The tiny detector graph from face-api's weights (readTfjsWeights(dir, 'tiny_face_detector_model')). */
export function buildTinyFaceDetector(weights: Map<string, TfjsWeight>): Uint8Array {
  const g = new GraphBuilder();
  const leaky = (v: string) => g.op('LeakyRelu', [v], { alpha: { float: LEAK } });
  // TF 'same' max pooling never takes a padded value: ONNX SAME_UPPER pads with -inf in effect.
  const pool = (v: string, stride: number) =>
    g.op('MaxPool', [v], {
      kernel_shape: { ints: [2, 2] },
      strides: { ints: [stride, stride] },
      auto_pad: { string: 'SAME_UPPER' },
    });

  let x = g.op('Sub', ['image', rgbVector(g, 'mean', MEAN_RGB)]);
  x = g.op('Mul', [x, g.constant('inv255', [], [1 / 255])]);
  x = leaky(g.conv(x, weight(weights, 'conv0/filters'), weight(weights, 'conv0/bias').data, 1, 'valid'));
  // tinyYolov2's separable conv pads by 1 and convolves 'valid': the same as 'same' for 3x3/1.
  for (let i = 1; i <= 5; i++) x = leaky(separable(g, weights, pool(x, 2), `conv${i}`, 1));
  x = pool(x, 1);
  const out = g.conv(x, weight(weights, 'conv8/filters'), weight(weights, 'conv8/bias').data, 1, 'valid');
  return g.encode(
    'faceapi_tiny_face_detector',
    [{ name: 'image', dims: [1, 3, 'H', 'W'] }],
    [{ value: out, info: { name: 'grid', dims: [1, 25, 'GH', 'GW'] } }],
    { docString: "face-api's tiny face detector (@vladmandic/face-api weights, MIT)" },
  );
}
