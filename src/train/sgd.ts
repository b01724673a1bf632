/**
 * Momentum SGD with L2 weight decay, as torch.optim.SGD (dampening 0, no Nesterov), the optimizer
 * of arcface_torch:
 *   d = g + wd * p;   buf = d on the first step, else momentum * buf + d;   p -= lr * buf.
 * The momentum buffers are the whole state; export/import them for checkpoints.
 */
import { tf } from '../runtime/backend.js';
import { badInput, badShape } from '../errors.js';

export interface SgdOptions {
  momentum: number;
  weightDecay: number;
  /** Which parameters get weight decay (by name); default all, as arcface_torch. */
  decays?: (name: string, v: tf.Variable) => boolean;
  /**
   * A parameter's learning rate as a multiple of the step's (default 1): PyTorch's param groups
   * with their own lr, e.g. a pretrained backbone at 0.1x its new head. The momentum buffer is lr-free
   * (as torch.optim.SGD), so changing a scale never rescales the past.
   */
  lrScale?: (name: string) => number;
}

export interface SgdState {
  /** Momentum buffers by parameter name (absent until that parameter's first step). */
  buffers: Map<string, { shape: number[]; values: Float32Array }>;
}

export class Sgd {
  private readonly momentum: number;
  private readonly weightDecay: number;
  private readonly decays: (name: string, v: tf.Variable) => boolean;
  private readonly lrScale: (name: string) => number;
  private readonly bufs = new Map<string, tf.Tensor>();

  constructor(opts: SgdOptions) {
    this.momentum = opts.momentum;
    this.weightDecay = opts.weightDecay;
    this.decays = opts.decays ?? (() => true);
    this.lrScale = opts.lrScale ?? (() => 1);
  }

  /** One update of each named parameter by its gradient (same order and shapes); grads are not disposed. */
  step(params: ReadonlyMap<string, tf.Variable>, grads: ReadonlyMap<string, tf.Tensor>, lr: number): void {
    for (const [name, p] of params) {
      const g = grads.get(name);
      if (!g) throw badInput(`Sgd.step: no gradient for parameter "${name}"`);
      if (g.size !== p.size)
        throw badShape(`Sgd.step: gradient of "${name}" has ${g.size} elements, ${p.size} expected`);
      const old = this.bufs.get(name);
      const [buf, next] = tf.tidy(() => {
        const wd = this.weightDecay !== 0 && this.decays(name, p) ? this.weightDecay : 0;
        const d = wd === 0 ? g : tf.add(g, tf.mul(p, wd));
        const b = old && this.momentum !== 0 ? tf.add(tf.mul(old, this.momentum), d) : tf.clone(d);
        return [b, tf.sub(p, tf.mul(b, lr * this.lrScale(name)))];
      });
      p.assign(next);
      next.dispose();
      old?.dispose();
      this.bufs.set(name, buf);
    }
  }

  exportState(): SgdState {
    const buffers = new Map<string, { shape: number[]; values: Float32Array }>();
    for (const [name, b] of this.bufs)
      buffers.set(name, { shape: [...b.shape], values: new Float32Array(b.dataSync()) });
    return { buffers };
  }

  importState(state: SgdState): void {
    this.dispose();
    for (const [name, b] of state.buffers) this.bufs.set(name, tf.tensor(b.values, b.shape, 'float32'));
  }

  /** The momentum buffers as tensors (read-only view; the optimizer owns them). */
  get buffers(): ReadonlyMap<string, tf.Tensor> {
    return this.bufs;
  }

  dispose(): void {
    for (const b of this.bufs.values()) b.dispose();
    this.bufs.clear();
  }
}
