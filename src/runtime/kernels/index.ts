/**
 * Training kernels tfjs-backend-wasm 4.22 lacks or runs slowly: it registers no
 * Conv2DBackpropFilter and no depthwise-conv gradients, and its Conv2DBackpropInput is a
 * naive loop; its matmuls with a transposed operand are 8-20x slower than plain ones; training-mode
 * batch norm as tf ops spends most of a MobileFaceNet step in reductions (batch_norm.ts); and its
 * Identity copies, which the engine runs on every tensor saved for a gradient (identity.ts); its Sum
 * over leading axes (every bias gradient) transposes the whole tensor first (sum.ts); and its
 * stride-1 3x3 Conv2D runs direct where Winograd needs 2.25x fewer multiplies (winograd.ts) and
 * its XNNPACK GEMMs run slower than ours, which uses relaxed-SIMD FMA where V8 has it (gemm.ts,
 * conv2d_forward.ts); its
 * MaxPoolGrad is a slow generic loop (max_pool_grad.ts), and so is its depthwise conv with a
 * channel multiplier (depthwise_forward.ts); dlib's conv tail (bias, scale, shift, ReLU) as tf ops
 * is a dozen full-size passes (affine.ts: two).
 * Registering ours replaces whatever the backend had under the same name.
 */
import { registerKernel, unregisterKernel, getKernel, type KernelConfig } from '@tensorflow/tfjs-core';
import { Conv2DBackpropInputConfig } from './conv2d_backprop_input.js';
import { Conv2DBackpropFilterConfig } from './conv2d_backprop_filter.js';
import { DepthwiseConv2dNativeBackpropInputConfig } from './depthwise_backprop_input.js';
import { DepthwiseConv2dNativeBackpropFilterConfig } from './depthwise_backprop_filter.js';
import { plainOperandMatMul } from './batch_matmul.js';
import { BatchNormTrainConfig, BatchNormTrainGradConfig } from './batch_norm.js';
import { AffineActConfig, AffineActGradConfig } from './affine.js';
import { IdentityConfig } from './identity.js';
import { MaxPoolGradConfig } from './max_pool_grad.js';
import { leadingAxesSum } from './sum.js';
import { conv2DKernel } from './conv2d_forward.js';
import { multiplierDepthwise } from './depthwise_forward.js';

export const trainingKernels: KernelConfig[] = [
  Conv2DBackpropInputConfig,
  Conv2DBackpropFilterConfig,
  DepthwiseConv2dNativeBackpropInputConfig,
  DepthwiseConv2dNativeBackpropFilterConfig,
  BatchNormTrainConfig,
  BatchNormTrainGradConfig,
  AffineActConfig,
  AffineActGradConfig,
  IdentityConfig,
  MaxPoolGradConfig,
];

let registered = false;

export function registerTrainingKernels(): void {
  if (registered) return;
  // Wrappers of the backend's own kernels: built now, while the originals are still registered.
  const wrapped = [
    plainOperandMatMul('BatchMatMul'),
    plainOperandMatMul('_FusedMatMul'),
    leadingAxesSum(),
    conv2DKernel(),
    multiplierDepthwise(),
  ].filter((k): k is KernelConfig => k !== undefined);
  for (const k of [...trainingKernels, ...wrapped]) {
    if (getKernel(k.kernelName, k.backendName)) unregisterKernel(k.kernelName, k.backendName);
    registerKernel(k);
  }
  registered = true;
}
