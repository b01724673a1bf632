/**
 * dlib's conv-layer tail: y = act((z + bias) * scale + shift [+ residual]), act = ReLU or none
 * (dlib's `affine_` layer after a biased conv; the residual is a block's shortcut, added before
 * its ReLU). One custom-gradient op, so autodiff keeps z and y per layer, not every intermediate.
 * Backward, with g = dy masked by y > 0 under ReLU:
 *   dz = g * scale,  dresidual = g,  dshift = sum g,  dbias = scale * sum g,  dscale = sum g (z + bias).
 * On wasm each direction is one kernel (runtime/kernels/affine.ts); elsewhere, tf ops.
 */
import { tf } from '../runtime/backend.js';
import { AFFINE_ACT, AFFINE_ACT_GRAD, hasAffineKernels } from '../runtime/kernels/affine.js';

export interface AffineWeights {
  bias: tf.Tensor;
  scale: tf.Tensor;
  shift: tf.Tensor;
}

export function affineAct(z: tf.Tensor, w: AffineWeights, relu: boolean, residual?: tf.Tensor): tf.Tensor {
  const axes = [...Array(z.rank - 1).keys()];
  const native = hasAffineKernels(tf.getBackend());
  const forward = (zin: tf.Tensor, bias: tf.Tensor, scale: tf.Tensor, shift: tf.Tensor, r?: tf.Tensor) =>
    native
      ? (tf.engine().runKernel(
          AFFINE_ACT,
          { z: zin, bias, scale, shift, ...(r ? { residual: r } : {}) },
          {
            relu,
          },
        ) as tf.Tensor)
      : tf.tidy(() => {
          // The same float32 operations, in the same order, as the wasm kernel.
          let y = tf.add(tf.mul(tf.add(zin, bias), scale), shift);
          if (r) y = tf.add(y, r);
          return relu ? tf.relu(y) : y;
        });
  const backward = (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor[] => {
    const [zin, y, bias, scale] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
    if (native)
      return tf
        .engine()
        .runKernel(
          AFFINE_ACT_GRAD,
          { dy, z: zin, y, bias, scale },
          { relu, withResidual: !!residual },
        ) as tf.Tensor[];
    return tf.tidy(() => {
      const g = relu ? tf.mul(dy, tf.cast(tf.greater(y, 0), 'float32')) : dy;
      const gsum = tf.sum(g, axes);
      const grads = [tf.mul(g, scale), tf.mul(gsum, scale), tf.sum(tf.mul(g, tf.add(zin, bias)), axes), gsum];
      return residual ? [...grads, g] : grads;
    });
  };
  const op = tf.customGrad((...args) => {
    const save = args.pop() as tf.GradSaveFunc;
    const [zin, bias, scale, shift, r] = args as tf.Tensor[];
    const y = forward(zin!, bias!, scale!, shift!, r);
    save([zin!, y, bias!, scale!]);
    return { value: y, gradFunc: backward };
  });
  return residual ? op(z, w.bias, w.scale, w.shift, residual) : op(z, w.bias, w.scale, w.shift);
}
