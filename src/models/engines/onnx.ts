/**
 * The default engine: an onnxruntime session, from an ONNX file or from bytes converted in memory
 * (tfjs weights, src/convert/). Its declared input and output shapes are checked against the
 * manifest once, at load, so a wrong manifest fails before the first face.
 */
import { badShape } from '../../errors.js';
import { inputShape, openSession, ort, type ModelBytes } from '../../runtime/onnx.js';
import type { ModelManifest } from '../manifest.js';
import type { EmbedEngine } from './types.js';

export async function openOnnxEngine(
  model: string | ModelBytes,
  m: ModelManifest,
  opts: { threads?: number } = {},
): Promise<EmbedEngine> {
  const label = typeof model === 'string' ? model : model.name;
  const session = await openSession(model, opts);
  try {
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
  } catch (err) {
    await session.release();
    throw err;
  }
  const [input] = session.inputNames;
  const [output] = session.outputNames;
  return {
    name: 'onnx',
    single: inputShape(session)[0] === 1,
    async run(data, dims) {
      const out = (await session.run({ [input]: new ort.Tensor('float32', data, dims) }))[output];
      return { type: out.type, dims: out.dims, data: out.data as Float32Array };
    },
    release: () => session.release(),
  };
}
