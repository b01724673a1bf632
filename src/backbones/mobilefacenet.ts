/**
 * MobileFaceNet (Chen et al., 2018), as arcface_torch's `backbones/mobilefacenet.py` (after
 * cavaface): ConvBlock = conv -> BN -> PReLU, LinearBlock = conv -> BN, DepthWise = 1x1 ConvBlock
 * -> grouped 3x3 ConvBlock -> 1x1 LinearBlock (+ input when residual), then conv_sep (1x1 to 512)
 * and the GDC head: 7x7 depthwise LinearBlock -> flatten -> Linear (no bias) -> BN1d.
 *
 * Module names follow the PyTorch file (`layers.3.layers.0.layers.1.layers.0.weight`...), group
 * counts too: they are fixed at 64/128/256/512 there whatever the scale.
 */
import { GraphBuilder, type ConvAttrs } from './layers.js';
import type { BackboneGraph, WeightSpec } from './types.js';
import { gaussian } from '../util/random.js';

export const MOBILEFACENET_BLOCKS = [1, 4, 6, 2] as const;
export const MOBILEFACENET_SCALE = 2;

interface Geometry {
  kernel: number;
  stride: number;
  padding: number;
  groups: number;
}

function attrs(inChannels: number, outChannels: number, g: Geometry): ConvAttrs {
  return { inChannels, outChannels, ...g };
}

const POINT: Geometry = { kernel: 1, stride: 1, padding: 0, groups: 1 };

function convBlock(b: GraphBuilder, name: string, x: string, inC: number, outC: number, g: Geometry) {
  x = b.conv(`${name}.layers.0`, x, attrs(inC, outC, g));
  x = b.batchNorm(`${name}.layers.1`, x, outC);
  return b.prelu(`${name}.layers.2`, x, outC);
}

function linearBlock(b: GraphBuilder, name: string, x: string, inC: number, outC: number, g: Geometry) {
  x = b.conv(`${name}.layers.0`, x, attrs(inC, outC, g));
  return b.batchNorm(`${name}.layers.1`, x, outC);
}

function depthWise(
  b: GraphBuilder,
  name: string,
  input: string,
  inC: number,
  outC: number,
  residual: boolean,
  stride: number,
  groups: number,
): string {
  let x = convBlock(b, `${name}.layers.0`, input, inC, groups, POINT);
  x = convBlock(b, `${name}.layers.1`, x, groups, groups, { kernel: 3, stride, padding: 1, groups });
  x = linearBlock(b, `${name}.layers.2`, x, groups, outC, POINT);
  if (!residual) return x;
  return b.node({ op: 'add', name: `${name}.add`, inputs: [x, input], attrs: {}, weights: [] });
}

function residual(b: GraphBuilder, name: string, x: string, c: number, blocks: number, groups: number) {
  for (let i = 0; i < blocks; i++) x = depthWise(b, `${name}.layers.${i}`, x, c, c, true, 1, groups);
  return x;
}

export function buildMobileFaceNet(
  b: GraphBuilder,
  blocks: readonly number[],
  scale: number,
  embeddingSize: number,
): BackboneGraph {
  const input = 'input';
  const c64 = 64 * scale;
  const c128 = 128 * scale;
  let x = convBlock(b, 'layers.0', input, 3, c64, { kernel: 3, stride: 2, padding: 1, groups: 1 });
  x =
    blocks[0] === 1
      ? convBlock(b, 'layers.1', x, c64, c64, { kernel: 3, stride: 1, padding: 1, groups: 64 })
      : residual(b, 'layers.1', x, c64, blocks[0], 128);
  x = depthWise(b, 'layers.2', x, c64, c64, false, 2, 128);
  x = residual(b, 'layers.3', x, c64, blocks[1], 128);
  x = depthWise(b, 'layers.4', x, c64, c128, false, 2, 256);
  x = residual(b, 'layers.5', x, c128, blocks[2], 256);
  x = depthWise(b, 'layers.6', x, c128, c128, false, 2, 512);
  x = residual(b, 'layers.7', x, c128, blocks[3], 256);
  x = convBlock(b, 'conv_sep', x, c128, 512, POINT);
  x = linearBlock(b, 'features.layers.0', x, 512, 512, { kernel: 7, stride: 1, padding: 0, groups: 512 });
  x = b.node({
    op: 'flatten',
    name: 'features.layers.1',
    inputs: [x],
    attrs: { order: 'nchw' },
    weights: [],
  });
  x = b.linear('features.layers.2', x, 512, embeddingSize, false);
  x = b.batchNorm('features.layers.3', x, embeddingSize);
  return { input, output: x, nodes: b.nodes };
}

/**
 * arcface_torch's `_initialize_weights`: convs and the Linear kaiming_normal(mode='fan_out',
 * relu), i.e. N(0, 2 / (out_channels * kh * kw)); BN scale 1, shift 0; PReLU 0.25.
 */
export function mobilefacenetInit(random: () => number): (spec: WeightSpec) => Float32Array {
  return (spec) => {
    const s = spec.torchShape;
    const n = s.reduce((a, c) => a * c, 1);
    const out = new Float32Array(n);
    if (spec.module === 'conv' || spec.module === 'linear') {
      const fanOut = s[0] * (s.length === 4 ? s[2] * s[3] : 1);
      const std = Math.sqrt(2 / fanOut);
      for (let i = 0; i < n; i++) out[i] = std * gaussian(random);
    } else if (spec.module === 'prelu') out.fill(0.25);
    else if (spec.name.endsWith('.weight') || spec.name.endsWith('.running_var')) out.fill(1);
    return out;
  };
}
