/**
 * IResNet (Deng et al., ArcFace, section 3.2 "improved residual network"), as arcface_torch's
 * `backbones/iresnet.py`: conv3x3(64) -> BN -> PReLU, four stages of IBasicBlock
 * (BN -> conv3x3 -> BN -> PReLU -> conv3x3 with the stage's stride -> BN, plus a 1x1 conv + BN
 * shortcut where the shape changes), then the "E" output: BN2d -> flatten -> dropout ->
 * FC(512 * 7 * 7 -> 512) -> BN1d whose scale is frozen at 1 (`features.weight.requires_grad = False`).
 *
 * arcface_torch's `fp16` only autocasts the body on CUDA and keeps float32 weights; here everything
 * is float32, so the state_dict is the same either way.
 */
import { GraphBuilder } from './layers.js';
import type { BackboneGraph, WeightSpec } from './types.js';
import { gaussian } from '../util/random.js';

/** Stage depths of arcface_torch's iresnet18/34/50/100. */
export const IRESNET_LAYERS = {
  iresnet18: [2, 2, 2, 2],
  iresnet34: [3, 4, 6, 3],
  iresnet50: [3, 4, 14, 3],
  iresnet100: [3, 13, 30, 3],
} as const;

/** arcface_torch's IResNet.fc_scale: the 7 x 7 map left of a 112 x 112 input after four stride-2 stages. */
export const IRESNET_FC_SCALE = 7 * 7;

const WIDTHS = [64, 128, 256, 512];

export function buildIResNet(
  b: GraphBuilder,
  layers: readonly number[],
  embeddingSize: number,
  dropout: number,
): BackboneGraph {
  const input = 'input';
  let x = b.conv('conv1', input, conv(3, 64, 3, 1));
  x = b.batchNorm('bn1', x, 64);
  x = b.prelu('prelu', x, 64);
  let inplanes = 64;
  layers.forEach((blocks, s) => {
    const planes = WIDTHS[s];
    for (let i = 0; i < blocks; i++) {
      const stride = i === 0 ? 2 : 1;
      x = basicBlock(b, `layer${s + 1}.${i}`, x, inplanes, planes, stride);
      inplanes = planes;
    }
  });
  x = b.batchNorm('bn2', x, 512);
  x = b.node({ op: 'flatten', name: 'flatten', inputs: [x], attrs: { order: 'nchw' }, weights: [] });
  x = b.node({ op: 'dropout', name: 'dropout', inputs: [x], attrs: { p: dropout }, weights: [] });
  x = b.linear('fc', x, 512 * IRESNET_FC_SCALE, embeddingSize, true);
  x = b.batchNorm('features', x, embeddingSize, true);
  return { input, output: x, nodes: b.nodes };
}

function conv(inChannels: number, outChannels: number, kernel: number, stride: number) {
  return { inChannels, outChannels, kernel, stride, padding: kernel === 3 ? 1 : 0, groups: 1 };
}

/** IBasicBlock; its modules register as bn1, conv1, bn2, prelu, conv2, bn3, downsample. */
function basicBlock(
  b: GraphBuilder,
  name: string,
  input: string,
  inplanes: number,
  planes: number,
  stride: number,
): string {
  let x = b.batchNorm(`${name}.bn1`, input, inplanes);
  x = b.conv(`${name}.conv1`, x, conv(inplanes, planes, 3, 1));
  x = b.batchNorm(`${name}.bn2`, x, planes);
  x = b.prelu(`${name}.prelu`, x, planes);
  x = b.conv(`${name}.conv2`, x, conv(planes, planes, 3, stride));
  x = b.batchNorm(`${name}.bn3`, x, planes);
  let identity = input;
  if (stride !== 1 || inplanes !== planes) {
    identity = b.conv(`${name}.downsample.0`, input, conv(inplanes, planes, 1, stride));
    identity = b.batchNorm(`${name}.downsample.1`, identity, planes);
  }
  return b.node({ op: 'add', name: `${name}.add`, inputs: [x, identity], attrs: {}, weights: [] });
}

/**
 * arcface_torch's initialisation: convs N(0, 0.1); BN scale 1, shift 0; PReLU 0.25 (PyTorch's
 * default); the FC layer PyTorch's Linear default, U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
 */
export function iresnetInit(random: () => number): (spec: WeightSpec) => Float32Array {
  return (spec) => {
    const n = spec.torchShape.reduce((a, c) => a * c, 1);
    const out = new Float32Array(n);
    if (spec.module === 'conv') for (let i = 0; i < n; i++) out[i] = 0.1 * gaussian(random);
    else if (spec.module === 'linear') {
      const bound = 1 / Math.sqrt(512 * IRESNET_FC_SCALE);
      for (let i = 0; i < n; i++) out[i] = (random() * 2 - 1) * bound;
    } else if (spec.module === 'prelu') out.fill(0.25);
    else if (spec.name.endsWith('.weight') || spec.name.endsWith('.running_var')) out.fill(1);
    return out;
  };
}
