/**
 * face-api's SSD MobileNet V1 face detector (ssdMobilenetv1/ in @vladmandic/face-api) as an ONNX
 * graph built in memory from `ssd_mobilenetv1_model` weights.
 *
 * Input `image` [1, 3, 512, 512]: RGB pixel values 0..255 (the graph does face-api's
 * x / 127.5 - 1, so zero padding outside the photo is black, as face-api's padToSquare).
 * Outputs: `boxes` [1, 5118, 4] as (ymin, xmin, ymax, xmax) relative to the 512 x 512 input, and
 * `scores` [1, 5118], sigmoid of the face class: face-api's outputLayer, decoded in the graph.
 * The size is fixed: the anchors (`Output/extra_dim`) are those of a 512 x 512 grid.
 *
 * Layers (mobileNetV1.ts, predictionLayer.ts): conv_0 3x3/2 then 13 depthwise (batch norm, ReLU6)
 * + pointwise (bias, ReLU6) pairs; eight more pointwise convs; six box predictors (1x1 convs with
 * bias) on conv_11, conv_13 and prediction conv_1, 3, 5, 7.
 */
import { GraphBuilder } from './graph.js';
import { weight, type TfjsWeight } from './tfjs_tensors.js';

export const SSD_INPUT_SIZE = 512;
/** face-api's mobileNetV1.ts epsilon. */
const BN_EPSILON = 0.0010000000474974513;
/** Depthwise layers with stride 2 (getStridesForLayerIdx). */
const STRIDE2 = new Set([2, 4, 6, 12]);

/** The SSD graph from face-api's weights (readTfjsWeights(dir, 'ssd_mobilenetv1_model')). */
export function buildSsdMobilenetV1(weights: Map<string, TfjsWeight>): Uint8Array {
  const g = new GraphBuilder();
  const zero = g.constant('zero', [], [0]);
  const six = g.constant('six', [], [6]);
  const relu6 = (x: string) => g.op('Clip', [x, zero, six], undefined, 'relu6');
  const pointwise = (x: string, prefix: string, stride: number) => {
    const f = weight(weights, `${prefix}/weights`);
    const b = weight(weights, `${prefix}/convolution_bn_offset`).data;
    return relu6(g.conv(x, f, b, stride, 'same', 'pw'));
  };

  // x / 127.5 - 1
  let x = g.op('Mul', ['image', g.constant('inv127_5', [], [1 / 127.5])]);
  x = g.op('Sub', [x, g.constant('one', [], [1])]);

  x = pointwise(x, 'MobilenetV1/Conv2d_0_pointwise', 2);
  let conv11 = '';
  for (let i = 1; i <= 13; i++) {
    const p = `MobilenetV1/Conv2d_${i}_depthwise`;
    const filter = weight(weights, `${p}/depthwise_weights`);
    // Batch norm folded into the depthwise filter: y = (conv - mean) * gamma / sqrt(var + eps) + beta.
    const gamma = weight(weights, `${p}/BatchNorm/gamma`).data;
    const beta = weight(weights, `${p}/BatchNorm/beta`).data;
    const mean = weight(weights, `${p}/BatchNorm/moving_mean`).data;
    const variance = weight(weights, `${p}/BatchNorm/moving_variance`).data;
    const c = gamma.length;
    const scale = gamma.map((gm, k) => gm / Math.sqrt(variance[k] + BN_EPSILON));
    const folded = new Float32Array(filter.data.length);
    for (let k = 0; k < folded.length; k++) folded[k] = filter.data[k] * scale[k % c];
    const bias = beta.map((b, k) => b - mean[k] * scale[k]);
    x = relu6(g.depthwise(x, { shape: filter.shape, data: folded }, bias, STRIDE2.has(i) ? 2 : 1, 'same'));
    x = pointwise(x, `MobilenetV1/Conv2d_${i}_pointwise`, 1);
    if (i === 11) conv11 = x;
  }
  const features = [conv11, x];
  let y = x;
  for (let i = 0; i < 8; i++) {
    y = pointwise(y, `Prediction/Conv2d_${i}_pointwise`, i % 2 ? 2 : 1);
    if (i % 2) features.push(y);
  }

  // Box predictor k: NCHW [1, A*4, H, W] -> NHWC order -> [1, H*W*A, 4] (A anchors per cell), as
  // face-api's reshape of the NHWC conv output; classes likewise with 3 values per anchor.
  const boxParts: string[] = [];
  const classParts: string[] = [];
  features.forEach((f, k) => {
    const p = `Prediction/BoxPredictor_${k}`;
    const head = (name: string, cols: number) => {
      const w = weight(weights, `${p}/${name}/weights`);
      const out = g.conv(f, w, weight(weights, `${p}/${name}/biases`).data, 1, 'same', 'head');
      const nhwc = g.op('Transpose', [out], { perm: { ints: [0, 2, 3, 1] } });
      return g.op('Reshape', [nhwc, g.int64('shape', [1, -1, cols])]);
    };
    boxParts.push(head('BoxEncodingPredictor', 4));
    classParts.push(head('ClassPredictor', 3));
  });
  const encodings = g.op('Concat', boxParts, { axis: { int: 1 } });
  const classes = g.op('Concat', classParts, { axis: { int: 1 } });

  // Scores: sigmoid of class 1 (face); class 0 is the background.
  const faceLogit = g.op('Slice', [
    classes,
    g.int64('start', [1]),
    g.int64('end', [2]),
    g.int64('axes', [2]),
  ]);
  const scores = g.op('Reshape', [g.op('Sigmoid', [faceLogit]), g.int64('shape', [1, -1])]);

  // outputLayer.ts's decode: centre += (t / 10) * anchor size, half size = exp(t / 5) * size / 2.
  const anchors = weight(weights, 'Output/extra_dim').data;
  const n = anchors.length / 4;
  const centre = new Float32Array(2 * n);
  const size = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) {
    const [y0, x0, y1, x1] = anchors.subarray(4 * i, 4 * i + 4);
    size[2 * i] = y1 - y0;
    size[2 * i + 1] = x1 - x0;
    centre[2 * i] = y0 + size[2 * i] / 2;
    centre[2 * i + 1] = x0 + size[2 * i + 1] / 2;
  }
  const slice = (from: number, to: number) =>
    g.op('Slice', [encodings, g.int64('start', [from]), g.int64('end', [to]), g.int64('axes', [2])]);
  const sizeC = g.constant('anchor_size', [1, n, 2], size);
  const c = g.op('Add', [
    g.op('Mul', [g.op('Mul', [slice(0, 2), g.constant('tenth', [], [0.1])]), sizeC]),
    g.constant('anchor_centre', [1, n, 2], centre),
  ]);
  const half = g.op('Mul', [
    g.op('Exp', [g.op('Mul', [slice(2, 4), g.constant('fifth', [], [0.2])])]),
    g.constant(
      'anchor_half',
      [1, n, 2],
      size.map((v) => v / 2),
    ),
  ]);
  const boxes = g.op('Concat', [g.op('Sub', [c, half]), g.op('Add', [c, half])], { axis: { int: 2 } });

  return g.encode(
    'faceapi_ssd_mobilenetv1',
    [{ name: 'image', dims: [1, 3, SSD_INPUT_SIZE, SSD_INPUT_SIZE] }],
    [
      { value: boxes, info: { name: 'boxes', dims: [1, n, 4] } },
      { value: scores, info: { name: 'scores', dims: [1, n] } },
    ],
    { docString: "face-api's SSD MobileNet V1 (@vladmandic/face-api weights, MIT)" },
  );
}
