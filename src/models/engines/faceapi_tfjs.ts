/**
 * The 'tfjs' engine: face-api's own FaceRecognitionNet (dlib's ResNet) on the project's tfjs
 * backend, its weights loaded by face-api from the weights manifest. The fallback when onnxruntime
 * is unusable, and the reference the ONNX conversion is tested against.
 *
 * It takes the same manifest-normalised tensor as the ONNX engine. face-api's forwardInput always
 * applies its own pre-processing, (x - [122.782, 117.001, 104.298]) / 255 on NHWC pixels, so the
 * tensor goes in as x * 255 + mean: the net then sees the manifest's normalisation (overrides
 * included) up to float rounding (~1e-7), not face-api's hard-wired one.
 */
import { ArcfaceError, badInput } from '../../errors.js';
import { tf } from '../../runtime/backend.js';
import { loadFaceApi } from '../../runtime/faceapi.js';
import type { ModelManifest } from '../manifest.js';
import type { EmbedEngine } from './types.js';

/** faceRecognitionNet/FaceRecognitionNet.ts: the mean RGB it subtracts before dividing by 255. */
const FACE_API_MEAN = [122.782, 117.001, 104.298];

/** `path`: face-api's face_recognition_model-weights_manifest.json (its .bin beside it). */
export async function openFaceApiEngine(path: string, m: ModelManifest): Promise<EmbedEngine> {
  if (m.architecture !== 'dlib-resnet-v1')
    throw badInput(
      `${path}: engine "tfjs" runs face-api's dlib-resnet-v1 only, not ${m.architecture ?? m.name}`,
    );
  const api = await loadFaceApi();
  const net = new api.FaceRecognitionNet();
  try {
    await net.loadFromDisk(path);
  } catch (err) {
    throw new ArcfaceError('NOT_FOUND', `${path}: cannot load face-api weights (${(err as Error).message})`);
  }
  const nchw = m.input.layout === 'nchw';
  return {
    name: 'tfjs',
    single: false,
    async run(data, dims) {
      const faces = tf.tidy(() => {
        const x = tf.tensor4d(data, dims as [number, number, number, number]);
        const nhwc = nchw ? tf.transpose(x, [0, 2, 3, 1]) : x;
        return tf.unstack(tf.add(tf.mul(nhwc, 255), tf.tensor1d(FACE_API_MEAN))) as tf.Tensor3D[];
      });
      try {
        const out = net.forwardInput(new api.NetInput(faces as never, true));
        try {
          return { type: out.dtype, dims: out.shape, data: (await out.data()) as Float32Array };
        } finally {
          out.dispose();
        }
      } finally {
        tf.dispose(faces);
      }
    },
    release: async () => net.dispose(),
  };
}
