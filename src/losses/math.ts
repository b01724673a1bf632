/** Numerically careful building blocks shared by the margin losses. */
import { tf } from './tf.js';

type UnaryGrad = (
  x: tf.Tensor,
  save: tf.GradSaveFunc,
) => { value: tf.Tensor; gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor };

/** tf.customGrad for a one-input function, typed. */
export function unaryCustomGrad(f: UnaryGrad): (x: tf.Tensor) => tf.Tensor {
  return tf.customGrad(f as unknown as Parameters<typeof tf.customGrad>[0]) as (x: tf.Tensor) => tf.Tensor;
}

/**
 * Floor under sin^2(theta). (1-c)(1+c) is exact to a few ulps even for c next to +-1, where
 * 1 - c^2 would lose every digit in float32; the floor only bites at |c| = 1 exactly, where it
 * keeps sqrt's gradient finite (the clamp passes zero gradient there).
 */
export const SIN2_FLOOR = 1e-12;

export function sinFromCos(c: tf.Tensor): tf.Tensor {
  return tf.sqrt(tf.maximum(tf.mul(tf.sub(1, c), tf.add(1, c)), SIN2_FLOOR));
}

/**
 * acos with a gradient that stays finite and accurate near +-1: d acos/dc = -1/sin(theta)
 * with sin from (1-c)(1+c) (tfjs's own Acos gradient uses 1 - c^2 and gives Inf at |c| = 1).
 * Inputs outside [-1, 1] are clipped first, so they get zero gradient, like torch.clamp.
 */
const acosCore = unaryCustomGrad((c, save) => {
  save([c]);
  return {
    value: tf.acos(c),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.neg(tf.div(dy, sinFromCos(saved[0]))),
  };
});

export function safeAcos(c: tf.Tensor): tf.Tensor {
  return acosCore(tf.clipByValue(c, -1, 1));
}

/**
 * SphereFace's monotone extension of cos: psi(phi) = (-1)^k cos(phi) - 2k on [k*pi, (k+1)*pi].
 * Continuous, strictly decreasing for every phi, and equal to cos(phi) on [0, pi]; its slope
 * vanishes at the joints, so the gradient is continuous too. k carries no gradient (floor).
 */
export function monotoneCos(phi: tf.Tensor): tf.Tensor {
  return psiFrom(phi, tf.cos(phi));
}

function psiFrom(phi: tf.Tensor, cosPhi: tf.Tensor): tf.Tensor {
  const k = tf.floor(tf.div(phi, Math.PI));
  const sign = tf.sub(1, tf.mul(2, tf.mod(k, 2)));
  return tf.sub(tf.mul(sign, cosPhi), tf.mul(2, k));
}

/**
 * psi(m1*theta + m2) with theta = acos(c). For c < 0 cos(phi) is expanded around m1*pi + m2
 * in the reflected angle theta' = acos(-c) = pi - theta, which float32 holds to full relative
 * precision near theta = pi; phi itself, near a multiple of pi, would lose the digits that
 * sin(phi) and the slope need (SphereFace m1 = 4 at theta = pi - 1e-3 was off by 1e-4).
 */
export function monotoneCosOfAngle(c: tf.Tensor, m1: number, m2: number): tf.Tensor {
  const theta = safeAcos(c);
  const reflected = tf.mul(safeAcos(tf.neg(c)), m1);
  const a = m1 * Math.PI + m2;
  const cosNear0 = tf.cos(tf.add(tf.mul(theta, m1), m2));
  const cosNearPi = tf.add(tf.mul(tf.cos(reflected), Math.cos(a)), tf.mul(tf.sin(reflected), Math.sin(a)));
  const phi = tf.add(tf.mul(theta, m1), m2);
  return psiFrom(phi, whereGreater(c, 0, cosNear0, cosNearPi));
}

/** Rows scaled to unit L2 norm, as torch's F.normalize (norm floored at 1e-12). */
export function l2Normalize(x: tf.Tensor2D): tf.Tensor2D {
  return tf.mul(x, tf.rsqrt(tf.maximum(tf.sum(tf.square(x), 1, true), 1e-24)));
}

/**
 * float32 one-hot rows. Built as int32 and cast: tfjs-backend-wasm 4.22's OneHot ignores a
 * float32 dtype and writes integer bits (1 reads back as 1.4e-45).
 */
export function oneHotRows(labels: tf.Tensor1D, depth: number): tf.Tensor2D {
  if (depth === 1) return tf.ones([labels.size, 1]); // tf.oneHot wants depth >= 2; labels are checked to be 0
  return tf.cast(tf.oneHot(tf.cast(labels, 'int32'), depth), 'float32') as tf.Tensor2D;
}

/** The entry of each row at its label: sum(cos * onehot) avoids gather, whose gradient (UnsortedSegmentSum) wasm lacks. */
export function pickTargets(cos: tf.Tensor2D, hot: tf.Tensor2D): tf.Tensor1D {
  return tf.sum(tf.mul(cos, hot), 1);
}

/**
 * where(c > threshold, a, b). tfjs registers no gradient for comparisons, and the tape would
 * otherwise ask for one since c depends on the inputs; the mask is built inside a custom
 * gradient that returns zero, which is what the comparison's gradient is.
 */
export function whereGreater(c: tf.Tensor, threshold: number, a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  const mask = unaryCustomGrad((x) => ({
    value: tf.cast(tf.greater(x, threshold), 'float32'),
    gradFunc: (dy) => tf.zerosLike(dy),
  }))(c);
  return tf.where(tf.cast(mask, 'bool'), a, b);
}
