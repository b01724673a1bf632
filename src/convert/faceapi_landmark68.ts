/**
 * face-api's 68-point landmark net (faceLandmarkNet/FaceLandmark68Net + faceFeatureExtractor/ in
 * @vladmandic/face-api) as an ONNX graph built in memory from `face_landmark_68_model` weights.
 *
 * Input `face` [N, 3, 112, 112]: RGB pixel values 0..255 of a square crop (face-api centres the
 * face box in a square, zero padded, and resizes it to 112). The graph normalises as
 * FaceFeatureExtractor: (x - mean RGB) / 255. Output `landmarks` [N, 136]: x0, y0, x1, y1, ... as
 * fractions of the square's side (face-api's runNet, before postProcess undoes the padding).
 *
 * Layers: four dense blocks (denseBlock4: a stride-2 conv, then three separable convs whose inputs
 * are ReLU'd sums of all earlier outputs of the block), 7x7 average pool, a 256 -> 136 dense layer.
 */
import { separable, rgbVector } from './faceapi_common.js';
import { GraphBuilder } from './graph.js';
import { weight, type TfjsWeight } from './tfjs_tensors.js';

export const LANDMARK_INPUT_SIZE = 112;
/** FaceFeatureExtractor.forwardInput's meanRgb. */
const MEAN_RGB = [122.782, 117.001, 104.298] as const;

/** The landmark graph from face-api's weights (readTfjsWeights(dir, 'face_landmark_68_model')). */
export function buildLandmark68(weights: Map<string, TfjsWeight>): Uint8Array {
  const g = new GraphBuilder();
  let x = g.op('Sub', ['face', rgbVector(g, 'mean', MEAN_RGB)]);
  x = g.op('Mul', [x, g.constant('inv255', [], [1 / 255])]);

  for (let b = 0; b < 4; b++) {
    const p = `dense${b}`;
    const first =
      b === 0
        ? g.conv(x, weight(weights, `${p}/conv0/filters`), weight(weights, `${p}/conv0/bias`).data, 2, 'same')
        : separable(g, weights, x, `${p}/conv0`, 2);
    const outs = [g.op('Relu', [first])];
    for (let k = 1; k <= 3; k++) {
      // conv k reads relu(out1 + ... + out_k); out1 is already ReLU'd
      const input = k === 1 ? outs[0] : g.op('Relu', [sum(g, outs)]);
      outs.push(separable(g, weights, input, `${p}/conv${k}`, 1));
    }
    x = g.op('Relu', [sum(g, outs)]);
  }
  x = g.op('AveragePool', [x], { kernel_shape: { ints: [7, 7] }, strides: { ints: [2, 2] } });
  x = g.op('Flatten', [x], { axis: { int: 1 } });
  const fc = weight(weights, 'fc/weights', [256, 136]);
  const out = g.op('Gemm', [
    x,
    g.constant('fc_w', fc.shape, fc.data),
    g.constant('fc_b', [136], weight(weights, 'fc/bias').data),
  ]);
  return g.encode(
    'faceapi_landmark68',
    [{ name: 'face', dims: ['N', 3, LANDMARK_INPUT_SIZE, LANDMARK_INPUT_SIZE] }],
    [{ value: out, info: { name: 'landmarks', dims: ['N', 136] } }],
    { docString: "face-api's 68-point landmark net (@vladmandic/face-api weights, MIT)" },
  );
}

function sum(g: GraphBuilder, xs: string[]): string {
  return xs.slice(1).reduce((acc, v) => g.op('Add', [acc, v]), xs[0]);
}
