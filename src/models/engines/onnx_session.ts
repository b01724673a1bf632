/**
 * A recogniser's onnxruntime session as an engine, on any onnxruntime (runtime/ort_api.ts): its
 * declared input and output shapes are checked against the manifest once, here, so a wrong manifest
 * fails before the first face, in Node (onnx.ts) as in the browser.
 */
import { badShape } from '../../errors.js';
import { inputShape, type OrtApi, type OrtSession } from '../../runtime/ort_api.js';
import type { ModelManifest } from '../manifest.js';
import type { EmbedEngine } from './types.js';

/** The engine over `session` (`label` names it in errors); throws BAD_SHAPE, leaving it open, when it does not fit `m`. */
export function sessionEngine(
  session: OrtSession,
  ort: Pick<OrtApi, 'Tensor'>,
  m: ModelManifest,
  label: string,
): EmbedEngine {
  const shape = inputShape(session);
  const { width, height, layout } = m.input;
  const want = layout === 'nchw' ? [3, height, width] : [height, width, 3];
  const bad =
    shape.length !== 4 ||
    want.some(
      (v, i) => typeof shape[i + 1] === 'number' && (shape[i + 1] as number) > 0 && shape[i + 1] !== v,
    );
  if (bad)
    throw badShape(
      `${label}: the model's input is [${shape.join(', ')}], the manifest of ${m.name} says ${layout.toUpperCase()} [N, ${want.join(', ')}]`,
    );
  const meta = session.outputMetadata[0];
  const last = meta && meta.isTensor ? meta.shape[meta.shape.length - 1] : undefined;
  if (typeof last === 'number' && last > 0 && last !== m.output!.dim)
    throw badShape(
      `${label}: the model outputs ${last}-d embeddings, the manifest of ${m.name} says ${m.output!.dim}`,
    );
  const [input] = session.inputNames;
  const [output] = session.outputNames;
  return {
    name: 'onnx',
    single: shape[0] === 1,
    async run(data, dims) {
      const out = (await session.run({ [input]: new ort.Tensor('float32', data, dims) }))[output];
      return { type: out.type, dims: out.dims, data: out.data as Float32Array };
    },
    release: () => session.release(),
  };
}
