/**
 * A small builder for ONNX graphs made from tfjs weights: unique value names, initialisers from
 * TensorFlow layouts, and the few layer shapes the face-api nets are made of. TensorFlow keeps
 * activations NHWC and filters HWIO; the graphs built here are NCHW (what onnxruntime's CPU
 * kernels are fastest on), so filters are transposed once, here, and never at run time.
 */
import {
  encodeOnnx,
  type OnnxAttr,
  type OnnxModel,
  type OnnxNode,
  type OnnxTensor,
  type OnnxValue,
} from '../export/onnx.js';
import type { TfjsWeight } from './tfjs_tensors.js';

export class GraphBuilder {
  readonly nodes: OnnxNode[] = [];
  readonly initializers: OnnxTensor[] = [];
  private next = 0;

  /** A fresh value name with a readable prefix. */
  name(prefix: string): string {
    return `${prefix}_${this.next++}`;
  }

  /** A float32 constant. */
  constant(prefix: string, dims: number[], data: Float32Array | number[]): string {
    const name = this.name(prefix);
    this.initializers.push({
      name,
      dims,
      data: data instanceof Float32Array ? data : Float32Array.from(data),
    });
    return name;
  }

  /** An int64 constant (shapes, axes). */
  int64(prefix: string, values: number[]): string {
    const name = this.name(prefix);
    this.initializers.push({ name, dims: [values.length], data: BigInt64Array.from(values.map(BigInt)) });
    return name;
  }

  op(op: string, inputs: string[], attrs?: Record<string, OnnxAttr>, prefix = op.toLowerCase()): string {
    const out = this.name(prefix);
    this.nodes.push({ op, inputs, outputs: [out], name: out, ...(attrs ? { attrs } : {}) });
    return out;
  }

  /** A per-channel vector shaped [C, 1, 1] so it broadcasts over NCHW activations. */
  channelVector(prefix: string, v: Float32Array): string {
    return this.constant(prefix, [v.length, 1, 1], v);
  }

  /**
   * Conv2D from a tfjs HWIO filter. `pad`: 'same' is TensorFlow's SAME (for stride 2 the extra
   * row/column goes at the bottom/right, ONNX's SAME_UPPER); 'valid' no padding.
   */
  conv(
    x: string,
    filter: TfjsWeight,
    bias: Float32Array | undefined,
    stride: number,
    pad: 'same' | 'valid',
    prefix = 'conv',
  ): string {
    const [kh, kw, cin, cout] = filter.shape as [number, number, number, number];
    const w = new Float32Array(filter.data.length);
    // HWIO -> OIHW
    for (let y = 0; y < kh; y++)
      for (let x0 = 0; x0 < kw; x0++)
        for (let i = 0; i < cin; i++)
          for (let o = 0; o < cout; o++)
            w[((o * cin + i) * kh + y) * kw + x0] = filter.data[((y * kw + x0) * cin + i) * cout + o]!;
    const inputs = [x, this.constant(`${prefix}_w`, [cout, cin, kh, kw], w)];
    if (bias) inputs.push(this.constant(`${prefix}_b`, [cout], bias));
    return this.op('Conv', inputs, convAttrs(kh, kw, stride, pad, 1), prefix);
  }

  /** Depthwise conv from a tfjs [kh, kw, C, 1] filter: a grouped Conv with group = C. */
  depthwise(
    x: string,
    filter: TfjsWeight,
    bias: Float32Array | undefined,
    stride: number,
    pad: 'same' | 'valid',
    prefix = 'dw',
  ): string {
    const [kh, kw, c, mult] = filter.shape as [number, number, number, number];
    const w = new Float32Array(filter.data.length);
    // [kh, kw, C, M] -> [C*M, 1, kh, kw]
    for (let y = 0; y < kh; y++)
      for (let x0 = 0; x0 < kw; x0++)
        for (let i = 0; i < c; i++)
          for (let m = 0; m < mult; m++)
            w[((i * mult + m) * kh + y) * kw + x0] = filter.data[((y * kw + x0) * c + i) * mult + m]!;
    const inputs = [x, this.constant(`${prefix}_w`, [c * mult, 1, kh, kw], w)];
    if (bias) inputs.push(this.constant(`${prefix}_b`, [c * mult], bias));
    return this.op('Conv', inputs, convAttrs(kh, kw, stride, pad, c), prefix);
  }

  encode(
    graphName: string,
    inputs: OnnxValue[],
    outputs: { value: string; info: OnnxValue }[],
    extra: Partial<OnnxModel> = {},
  ): Uint8Array {
    // Rename each output's producing node to the public output name.
    for (const { value, info } of outputs) {
      for (const n of this.nodes) {
        n.outputs = n.outputs.map((o) => (o === value ? info.name : o));
        n.inputs = n.inputs.map((i) => (i === value ? info.name : i));
      }
    }
    return encodeOnnx({
      graphName,
      nodes: this.nodes,
      initializers: this.initializers,
      inputs,
      outputs: outputs.map((o) => o.info),
      ...extra,
    });
  }
}

function convAttrs(
  kh: number,
  kw: number,
  stride: number,
  pad: 'same' | 'valid',
  group: number,
): Record<string, OnnxAttr> {
  return {
    kernel_shape: { ints: [kh, kw] },
    strides: { ints: [stride, stride] },
    ...(pad === 'same' ? { auto_pad: { string: 'SAME_UPPER' } } : { pads: { ints: [0, 0, 0, 0] } }),
    group: { int: group },
  };
}
