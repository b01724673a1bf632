/**
 * The toy CNN: three stride-2 3x3 convs (ReLU), a hidden FC layer, and a 2-D embedding, small
 * enough to train in seconds while still being a conv net trained by the project's wasm kernels.
 */
import { tf } from '../runtime/backend.js';

export interface ToyNet {
  variables: tf.Variable[];
  /** [N, H, W, 1] images -> [N, 2] raw (unnormalised) features. */
  apply(x: tf.Tensor4D): tf.Tensor2D;
  dispose(): void;
}

export function toyNet(height: number, width: number, featureDim = 2, seed = 1): ToyNet {
  let s = seed;
  // He-normal init (ReLU nets), seeded so both losses start from the same weights.
  const he = (shape: number[], fanIn: number, name: string) =>
    tf.variable(
      tf.randomNormal(shape, 0, Math.sqrt(2 / fanIn), 'float32', s++),
      true,
      `${name}_${seed}_${s}`,
    );
  const zeros = (n: number, name: string) => tf.variable(tf.zeros([n]), true, `${name}_${seed}_${s++}`);
  const chans = [1, 16, 32, 64];
  const convs = chans.slice(1).map((co, i) => ({
    w: he([3, 3, chans[i], co], 9 * chans[i], 'conv'),
    b: zeros(co, 'conv_b'),
  }));
  let h = height;
  let w = width;
  for (let i = 0; i < convs.length; i++) {
    h = Math.ceil(h / 2);
    w = Math.ceil(w / 2);
  }
  const flat = h * w * chans[chans.length - 1];
  const fc1 = { w: he([flat, 64], flat, 'fc1'), b: zeros(64, 'fc1_b') };
  const fc2 = { w: he([64, featureDim], 64, 'fc2'), b: zeros(featureDim, 'fc2_b') };
  const variables = [...convs.flatMap((c) => [c.w, c.b]), fc1.w, fc1.b, fc2.w, fc2.b];
  return {
    variables,
    apply(x) {
      return tf.tidy(() => {
        let y: tf.Tensor4D = x;
        for (const c of convs)
          y = tf.relu(tf.add(tf.conv2d(y, c.w as tf.Tensor4D, 2, 'same'), c.b)) as tf.Tensor4D;
        const f = tf.reshape(y, [x.shape[0], flat]) as tf.Tensor2D;
        const hdn = tf.relu(tf.add(tf.matMul(f, fc1.w as tf.Tensor2D), fc1.b)) as tf.Tensor2D;
        return tf.add(tf.matMul(hdn, fc2.w as tf.Tensor2D), fc2.b) as tf.Tensor2D;
      });
    },
    dispose() {
      for (const v of variables) v.dispose();
    },
  };
}
