/** Pieces the face-api graphs share: the depthwise-separable conv and float-vector helpers. */
import type { GraphBuilder } from './graph.js';
import { weight, type TfjsWeight } from './tfjs_tensors.js';

/**
 * tf.separableConv2d + bias, as face-api's depthwiseSeparableConv: a depthwise 3x3 (stride on it,
 * no bias) then a 1x1 pointwise conv with `PREFIX/bias`.
 */
export function separable(
  g: GraphBuilder,
  weights: Map<string, TfjsWeight>,
  x: string,
  prefix: string,
  stride: number,
): string {
  const dw = g.depthwise(x, weight(weights, `${prefix}/depthwise_filter`), undefined, stride, 'same', 'dw');
  const bias = weight(weights, `${prefix}/bias`).data;
  return g.conv(dw, weight(weights, `${prefix}/pointwise_filter`), bias, 1, 'same', 'pw');
}

/** A [C, 1, 1] per-channel constant (broadcasts over NCHW) from three RGB values. */
export function rgbVector(g: GraphBuilder, prefix: string, rgb: readonly [number, number, number]): string {
  return g.channelVector(prefix, Float32Array.from(rgb));
}
