/**
 * The conv geometry our GEMM-based kernels (conv2d_forward.ts, winograd.ts) accept: NHWC, dilation
 * 1, float32 rank-4 input whose channels match the filter's. Each kernel adds its own conditions.
 */
import { backend_util, type TensorInfo } from '@tensorflow/tfjs-core';

export function convPlan(
  x: TensorInfo,
  filter: TensorInfo,
  attrs: Record<string, unknown>,
): backend_util.Conv2DInfo | undefined {
  const fmt = attrs.dataFormat as string | undefined;
  if (fmt !== undefined && fmt !== 'NHWC' && fmt !== 'channelsLast') return undefined;
  const d = attrs.dilations as number | number[] | undefined;
  if (d !== undefined && (Array.isArray(d) ? d.some((v) => v !== 1) : d !== 1)) return undefined;
  if (x.dtype !== 'float32' || filter.dtype !== 'float32' || x.shape.length !== 4) return undefined;
  if (filter.shape.length !== 4 || x.shape[3] !== filter.shape[2]) return undefined;
  return backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filter.shape as [number, number, number, number],
    attrs.strides as number | [number, number],
    1,
    attrs.pad as backend_util.ExplicitPadding | 'same' | 'valid' | number,
    attrs.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined,
  );
}
