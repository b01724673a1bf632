/**
 * A trained backbone as an ONNX model (NCHW input [N, 3, 112, 112], the InsightFace convention)
 * plus its manifest, so onnxruntime (the fast path of issue 3) and any ONNX tool can run it.
 * The backbone's graph is already in PyTorch terms (module names, NCHW flatten), so each node
 * maps onto one ONNX op with the state_dict tensors as initialisers. A fine-tuned dlib ResNet goes
 * through the converter the default recogniser itself is loaded with (src/convert/dlib_resnet.ts),
 * and keeps the default's crop (dlib chip) and normalisation.
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DLIB_RESNET, toTorchStateDict, type Backbone, type DlibResnetBackbone } from '../backbones/index.js';
import { dlibResnetToOnnx } from '../convert/dlib_resnet.js';
import { ArcfaceError } from '../errors.js';
import { validateManifest, type BaseModelInfo, type ModelManifest } from '../models/manifest.js';
import { DLIB_RECOGNISER, getModel, INSIGHTFACE_INPUT } from '../models/zoo.js';
import { encodeOnnx, type OnnxNode, type OnnxTensor } from './onnx.js';

export const ONNX_INPUT = 'input';
export const ONNX_OUTPUT = 'embedding';

export function backboneToOnnx(backbone: Backbone, docString = ''): Uint8Array {
  const graph = backbone.graph();
  const state = toTorchStateDict(backbone);
  const initializers: OnnxTensor[] = [];
  const nodes: OnnxNode[] = [];
  const rename_ = new Map<string, string>([[graph.input, ONNX_INPUT]]);
  const value = (v: string) => rename_.get(v) ?? v;
  const weight = (name: string, reshape?: number[]): string => {
    const t = state.get(name);
    if (!t) throw new ArcfaceError('BAD_SHAPE', `ONNX export: weight "${name}" is not in the state_dict`);
    initializers.push({ name, dims: reshape ?? t.shape, data: t.data });
    return name;
  };
  for (const n of graph.nodes) {
    const inputs = n.inputs.map(value);
    const a = n.attrs;
    switch (n.op) {
      case 'conv': {
        const k = a.kernel as number;
        const p = a.padding as number;
        const s = a.stride as number;
        nodes.push({
          op: 'Conv',
          name: n.name,
          inputs: [inputs[0]!, ...n.weights.map((w) => weight(w))],
          outputs: [n.output],
          attrs: {
            kernel_shape: { ints: [k, k] },
            strides: { ints: [s, s] },
            pads: { ints: [p, p, p, p] },
            group: { int: a.groups as number },
          },
        });
        break;
      }
      case 'batchnorm':
        nodes.push({
          op: 'BatchNormalization',
          name: n.name,
          inputs: [inputs[0]!, ...n.weights.map((w) => weight(w))],
          outputs: [n.output],
          attrs: { epsilon: { float: a.eps as number } },
        });
        break;
      case 'prelu': {
        // Slopes per channel broadcast over H and W of NCHW activations.
        const c = state.get(n.weights[0]!)!.shape[0]!;
        nodes.push({
          op: 'PRelu',
          name: n.name,
          inputs: [inputs[0]!, weight(n.weights[0]!, [c, 1, 1])],
          outputs: [n.output],
        });
        break;
      }
      case 'add':
        nodes.push({ op: 'Add', name: n.name, inputs, outputs: [n.output] });
        break;
      case 'flatten':
        nodes.push({ op: 'Flatten', name: n.name, inputs, outputs: [n.output], attrs: { axis: { int: 1 } } });
        break;
      case 'dropout':
        rename_.set(n.output, inputs[0]!); // inference: identity
        break;
      case 'linear':
        nodes.push({
          op: 'Gemm',
          name: n.name,
          inputs: [inputs[0]!, ...n.weights.map((w) => weight(w))],
          outputs: [n.output],
          attrs: { transB: { int: 1 } }, // PyTorch's Linear weight is [out, in]
        });
        break;
    }
  }
  // The last node writes the output under the ONNX name.
  const out = value(graph.output);
  const last = nodes.find((x) => x.outputs[0] === out);
  if (!last) throw new ArcfaceError('BAD_SHAPE', 'ONNX export: the graph output is not produced by any node');
  last.outputs[0] = ONNX_OUTPUT;
  for (const x of nodes) x.inputs = x.inputs.map((i) => (i === out ? ONNX_OUTPUT : i));
  const { name, embeddingSize } = backbone.config;
  return encodeOnnx({
    graphName: name,
    nodes,
    initializers,
    inputs: [{ name: ONNX_INPUT, dims: ['N', 3, 112, 112] }],
    outputs: [{ name: ONNX_OUTPUT, dims: ['N', embeddingSize] }],
    docString,
    metadata: { backbone: name, embeddingSize: String(embeddingSize) },
  });
}

export interface PackageInfo {
  name: string;
  licence: string;
  trainingData: string;
  researchOnly: boolean;
  description?: string;
  accuracy?: Record<string, number>;
  accuracySource?: string;
  thresholds?: { verify?: number; [far: string]: number | undefined };
  thresholdsSource?: string;
  /** What the run started from (`arcface train --init`), with its terms. */
  base?: BaseModelInfo;
}

const isDlib = (b: Backbone | DlibResnetBackbone): b is DlibResnetBackbone => b.config.name === DLIB_RESNET;

/** The dlib ResNet's weights as the converter reads face-api's (same names, tfjs layouts). */
function dlibToOnnx(b: DlibResnetBackbone): Uint8Array {
  const weights = new Map(
    [...b.namedWeights()].map(([name, v]) => [
      name,
      { shape: [...v.shape], data: Float32Array.from(v.dataSync() as Float32Array) },
    ]),
  );
  return dlibResnetToOnnx(weights);
}

/** DIR/model.onnx + DIR/manifest.json (loadable with --model DIR/manifest.json); returns the manifest. */
export async function writeModelPackage(
  backbone: Backbone | DlibResnetBackbone,
  dir: string,
  info: PackageInfo,
): Promise<ModelManifest> {
  await mkdir(dir, { recursive: true });
  const dlib = isDlib(backbone) ? getModel(DLIB_RECOGNISER) : null;
  const manifest = validateManifest(
    {
      ...info,
      // A model is at least as restricted as its base (validateManifest refuses less).
      researchOnly: info.researchOnly || (info.base?.researchOnly ?? false),
      task: 'recognition',
      file: 'model.onnx',
      // What arcface train normalised with: InsightFace's 112x112 convention, or the default
      // recogniser's own dlib chip and means for a fine-tuned dlib ResNet.
      ...(dlib ? { alignment: dlib.alignment, input: dlib.input } : { input: INSIGHTFACE_INPUT }),
      output: { dim: backbone.config.embeddingSize },
      flip: true,
    },
    join(dir, 'manifest.json'),
  );
  const onnx = isDlib(backbone) ? dlibToOnnx(backbone) : backboneToOnnx(backbone, info.description ?? '');
  await writeFile(join(dir, 'model.onnx.tmp'), onnx);
  await rename(join(dir, 'model.onnx.tmp'), join(dir, 'model.onnx'));
  await writeFile(join(dir, 'manifest.json.tmp'), JSON.stringify(manifest, null, 2) + '\n');
  await rename(join(dir, 'manifest.json.tmp'), join(dir, 'manifest.json'));
  return manifest;
}
