/**
 * Write an ONNX ModelProto (onnx/onnx.proto, IR version 7, default opset 13) from plain data:
 * nodes, float32/int64 initialisers, typed inputs and outputs. Enough for the convolutional
 * embedders this project trains; the graph itself is built by export/backbone.ts.
 */
import { ProtoWriter } from './protobuf.js';

export type OnnxAttr =
  { int: number } | { ints: number[] } | { float: number } | { floats: number[] } | { string: string };

export interface OnnxNode {
  op: string;
  inputs: string[];
  outputs: string[];
  name?: string;
  attrs?: Record<string, OnnxAttr>;
}

export interface OnnxTensor {
  name: string;
  dims: number[];
  data: Float32Array | BigInt64Array;
}

export interface OnnxValue {
  name: string;
  /** Numbers for fixed axes, strings for symbolic ones ("N"). */
  dims: (number | string)[];
  elemType?: 'float' | 'int64';
}

export interface OnnxModel {
  graphName: string;
  nodes: OnnxNode[];
  initializers: OnnxTensor[];
  inputs: OnnxValue[];
  outputs: OnnxValue[];
  opset?: number;
  producer?: string;
  producerVersion?: string;
  docString?: string;
  metadata?: Record<string, string>;
}

// onnx.proto enums
const ELEM = { float: 1, int64: 7 } as const;
const ATTR = { FLOAT: 1, INT: 2, STRING: 3, FLOATS: 6, INTS: 7 } as const;

function attribute(name: string, a: OnnxAttr): ProtoWriter {
  const w = new ProtoWriter().string(1, name);
  if ('int' in a) w.int(3, a.int).int(20, ATTR.INT);
  else if ('ints' in a) w.packedInts(8, a.ints).int(20, ATTR.INTS);
  else if ('float' in a) w.float(2, a.float).int(20, ATTR.FLOAT);
  else if ('floats' in a) w.packedFloats(7, a.floats).int(20, ATTR.FLOATS);
  else w.string(4, a.string).int(20, ATTR.STRING);
  return w;
}

function node(n: OnnxNode): ProtoWriter {
  const w = new ProtoWriter();
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  if (n.name) w.string(3, n.name);
  w.string(4, n.op);
  for (const [k, v] of Object.entries(n.attrs ?? {})) w.message(5, attribute(k, v));
  return w;
}

function tensor(t: OnnxTensor): ProtoWriter {
  const count = t.dims.reduce((a, b) => a * b, 1);
  if (count !== t.data.length)
    throw new RangeError(
      `initialiser ${t.name}: dims [${t.dims}] hold ${count} values, data has ${t.data.length}`,
    );
  const raw = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength); // little-endian, as ONNX's raw_data
  return new ProtoWriter()
    .packedInts(1, t.dims)
    .int(2, t.data instanceof Float32Array ? ELEM.float : ELEM.int64)
    .string(8, t.name)
    .bytes(9, raw);
}

function valueInfo(v: OnnxValue): ProtoWriter {
  const shape = new ProtoWriter();
  for (const d of v.dims)
    shape.message(1, typeof d === 'number' ? new ProtoWriter().int(1, d) : new ProtoWriter().string(2, d));
  const tensorType = new ProtoWriter().int(1, ELEM[v.elemType ?? 'float']).message(2, shape);
  return new ProtoWriter().string(1, v.name).message(2, new ProtoWriter().message(1, tensorType));
}

export function encodeOnnx(m: OnnxModel): Uint8Array {
  const graph = new ProtoWriter();
  for (const n of m.nodes) graph.message(1, node(n));
  graph.string(2, m.graphName);
  for (const t of m.initializers) graph.message(5, tensor(t));
  for (const i of m.inputs) graph.message(11, valueInfo(i));
  for (const o of m.outputs) graph.message(12, valueInfo(o));
  const model = new ProtoWriter()
    .int(1, 7) // IR version 7 goes with opset 13
    .string(2, m.producer ?? 'arcface')
    .string(3, m.producerVersion ?? '')
    .string(6, m.docString ?? '')
    .message(7, graph)
    .message(8, new ProtoWriter().string(1, '').int(2, m.opset ?? 13));
  for (const [k, v] of Object.entries(m.metadata ?? {}))
    model.message(14, new ProtoWriter().string(1, k).string(2, v));
  return model.finish();
}
