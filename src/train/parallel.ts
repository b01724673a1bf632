/**
 * Data-parallel gradients on worker threads: tfjs-wasm computes on one thread, so `--parallel N`
 * runs N wasm instances (one per worker_threads Worker), each computing the gradients of a
 * contiguous share of the step's micro-batches (arcface_torch's DDP, with threads for GPUs). The
 * main thread sums them in worker order (deterministic) and keeps the optimizer; the step equals
 * the in-process one up to float rounding (only the order of the gradient sum changes).
 *
 * BN running statistics: sequentially, J micro-batches from r_0 give
 *   r_J = (1-m)^J r_0 + Σ_j m (1-m)^(J-1-j) b_j
 * (the update is linear in the batch statistic, so the unbiased variance of layers.ts changes
 * nothing). Worker w starts at r_0 with k_w micro-batches and returns (1-m)^k_w r_0 + its sum;
 * combining in order r <- (1-m)^k_w r + (r_w - (1-m)^k_w r_0) gives r_J exactly.
 */
import type { Worker } from 'node:worker_threads';
import { startModuleWorker } from '../runtime/worker.js';
import { ArcfaceError, type ArcfaceErrorCode } from '../errors.js';
import { tf, type BackendName } from '../runtime/backend.js';
import type { TrainConfig } from './config.js';
import type { GradientResult, GradientSource, MicroBatch } from './trainer.js';

/** workerData key: importing grad_worker.ts elsewhere starts nothing. */
export const GRAD_WORKER_FLAG = 'arcfaceGradWorker';

export interface GradWorkerInit {
  [GRAD_WORKER_FLAG]: true;
  index: number;
  config: TrainConfig;
  numClasses: number;
  backend: BackendName;
}

/** A micro-batch with its position in the step (errors name it). */
export type WorkerMicroBatch = MicroBatch & { at: number };

export interface ComputeRequest {
  type: 'compute';
  id: number;
  shape: [number, number, number];
  params: [string, Float32Array][];
  state: [string, Float32Array][];
  micro: WorkerMicroBatch[];
  /** A head-only step: inference-mode backbone, head gradients only (trainer.ts GradientSource). */
  frozen: boolean;
}

export type WorkerReply =
  | {
      type: 'ready';
      /** Parameter keys (as the trainer names them) with their sizes. */
      params: [string, number][];
      /** Non-trainable variables with their sizes and BN momentum (null: not a BN running statistic). */
      state: [string, number, number | null][];
    }
  | {
      type: 'result';
      id: number;
      losses: number[];
      grads: [string, Float32Array][];
      state: [string, Float32Array][];
      lossIteration: number | null;
    }
  | {
      type: 'error';
      id: number;
      message: string;
      code?: ArcfaceErrorCode;
      /** Index in the step of the micro-batch whose forward failed. */
      microBatch?: number;
    };

/** An error from a worker; `microBatch` (when known) lets the trainer name the batch. */
export class GradientWorkerError extends ArcfaceError {
  constructor(
    code: ArcfaceErrorCode,
    message: string,
    readonly microBatch?: number,
  ) {
    super(code, message);
  }
}

/** `--parallel N` needs a micro-batch per worker: BAD_CONFIG before any work otherwise. */
export function checkParallel(parallel: number, accumulate: number): void {
  if (!Number.isInteger(parallel) || parallel < 1)
    throw new ArcfaceError('BAD_CONFIG', `--parallel must be an integer >= 1, got ${parallel}`);
  if (parallel > accumulate)
    throw new ArcfaceError(
      'BAD_CONFIG',
      `--parallel ${parallel} needs accumulate >= ${parallel}, but accumulate is ${accumulate}: each worker ` +
        `computes whole micro-batches. Raise accumulate to ${parallel} or more (a step holds batchSize x ` +
        `accumulate images: lower batchSize to keep that) or use --parallel ${accumulate}.`,
    );
}

/** Sizes of `parts` contiguous chunks of `count` items, differing by at most 1, larger first. */
export function splitContiguous(count: number, parts: number): number[] {
  const base = Math.floor(count / parts);
  return Array.from({ length: parts }, (_, w) => base + (w < count % parts ? 1 : 0));
}

/**
 * The running statistic after all workers' micro-batches, as the sequential run gets it: each
 * part started at r0 and ran `count` EMA updates with `momentum`. Computed in float64.
 */
export function combineRunningStats(
  r0: Float32Array,
  parts: { values: Float32Array; count: number }[],
  momentum: number,
): Float32Array {
  const r = Float64Array.from(r0);
  for (const { values, count } of parts) {
    if (count === 0) continue;
    const f = Math.pow(1 - momentum, count);
    for (let i = 0; i < r.length; i++) r[i] = f * r[i] + (values[i] - f * r0[i]);
  }
  return Float32Array.from(r);
}

export interface GradientPoolOptions {
  config: TrainConfig;
  numClasses: number;
  workers: number;
  /** Backend of the workers; default the main thread's (same kernels, same rounding). */
  backend?: BackendName;
}

interface Slot {
  index: number;
  worker: Worker;
  pending?: { id: number; resolve: (r: WorkerReply) => void; reject: (e: Error) => void };
  dead?: Error;
}

interface Layout {
  params: Map<string, number>;
  state: Map<string, { size: number; momentum: number | null }>;
}

/** A gradient worker on grad_worker (src/runtime/worker.ts: dist .js or tsx .ts). */
function startWorker(workerData: GradWorkerInit): Worker {
  return startModuleWorker(import.meta.url, 'grad_worker', workerData);
}

const READY = -1;

export class GradientPool implements GradientSource {
  private nextId = 0;

  private constructor(
    private readonly slots: Slot[],
    private readonly layout: Layout,
  ) {}

  /** Workers started (each with its own wasm heap). */
  get size(): number {
    return this.slots.length;
  }

  /** Starts `workers` threads, each building the config's backbone and head; resolves when all are ready. */
  static async start(o: GradientPoolOptions): Promise<GradientPool> {
    if (!Number.isInteger(o.workers) || o.workers < 1)
      throw new ArcfaceError('BAD_CONFIG', `GradientPool: workers must be an integer >= 1, got ${o.workers}`);
    const backend = o.backend ?? (tf.getBackend() as BackendName);
    const slots: Slot[] = [];
    const ready: Promise<WorkerReply>[] = [];
    for (let index = 0; index < o.workers; index++) {
      const slot: Slot = {
        index,
        worker: startWorker({
          [GRAD_WORKER_FLAG]: true,
          index,
          config: o.config,
          numClasses: o.numClasses,
          backend,
        }),
      };
      slots.push(slot);
      ready.push(expect(slot, READY));
      listen(slot);
    }
    let replies: WorkerReply[];
    try {
      replies = await Promise.all(ready);
    } catch (e) {
      await Promise.all(slots.map((s) => s.worker.terminate()));
      throw e;
    }
    for (const s of slots) s.worker.unref(); // an idle pool never keeps the process alive
    const first = replies[0] as Extract<WorkerReply, { type: 'ready' }>;
    return new GradientPool(slots, {
      params: new Map(first.params),
      state: new Map(first.state.map(([k, size, momentum]) => [k, { size, momentum }])),
    });
  }

  async compute(
    params: Map<string, tf.Variable>,
    state: Map<string, tf.Variable>,
    micro: MicroBatch[],
    imageShape: readonly [number, number, number],
    frozen = false,
  ): Promise<GradientResult> {
    const dead = this.slots.find((s) => s.dead);
    if (dead) throw dead.dead!;
    this.checkLayout(params, state);
    const sizes = splitContiguous(micro.length, this.slots.length);
    const paramValues = [...params].map(([k, v]) => [k, v.dataSync() as Float32Array] as const);
    const r0 = new Map([...state].map(([k, v]) => [k, v.dataSync() as Float32Array] as const));
    const jobs: { slot: Slot; count: number; reply: Promise<WorkerReply> }[] = [];
    let at = 0;
    for (const slot of this.slots) {
      const count = sizes[slot.index];
      if (count === 0) continue;
      const id = this.nextId++;
      const copy = (a: Float32Array) => a.slice();
      const req: ComputeRequest = {
        type: 'compute',
        id,
        shape: [...imageShape],
        params: paramValues.map(([k, a]) => [k, copy(a)]),
        state: [...r0].map(([k, a]) => [k, copy(a)]),
        // Images are cloned, not transferred: a BatchSource may reuse its buffers.
        micro: micro.slice(at, at + count).map((m, j) => ({ ...m, at: at + j })),
        frozen,
      };
      at += count;
      const transfer = [...req.params, ...req.state].map(([, a]) => a.buffer as ArrayBuffer);
      const reply = expect(slot, id);
      slot.worker.ref();
      slot.worker.postMessage(req, transfer);
      jobs.push({ slot, count, reply });
    }
    // Every reply is awaited; the first failing worker in order (the earliest micro-batch) wins.
    const settled = await Promise.allSettled(jobs.map((j) => j.reply));
    for (const j of jobs) if (!j.slot.dead) j.slot.worker.unref();
    const failed = settled.find((s) => s.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
    const results = settled.map(
      (s) => (s as PromiseFulfilledResult<WorkerReply>).value as Extract<WorkerReply, { type: 'result' }>,
    );

    // Gradient sums: worker 0's, plus the others' in worker order (float32 adds, as tf.add).
    const grads = new Map<string, tf.Tensor>();
    const byKey = results.map((r) => new Map(r.grads));
    for (const [key, v] of params) {
      const parts = byKey.map((m) => m.get(key));
      if (parts.some((p) => !p)) continue; // no gradient (as variableGrads leaves it out)
      const acc = parts[0]!;
      for (const p of parts.slice(1))
        for (let i = 0; i < acc.length; i++) acc[i] = Math.fround(acc[i] + p![i]);
      grads.set(key, tf.tensor(acc, v.shape));
    }

    // State: BN running statistics combined as the sequential run would have moved them.
    const stateBy = results.map((r) => new Map(r.state));
    for (const [key, v] of frozen ? [] : state) {
      const before = r0.get(key)!;
      const parts = jobs.map((j, w) => ({ values: stateBy[w].get(key)!, count: j.count }));
      const momentum = this.layout.state.get(key)!.momentum;
      let values: Float32Array;
      if (momentum !== null) values = combineRunningStats(before, parts, momentum);
      else {
        if (parts.some((p) => p.values.some((x, i) => x !== before[i]))) {
          tf.dispose([...grads.values()]);
          throw new ArcfaceError(
            'BAD_CONFIG',
            `GradientPool: the non-trainable variable "${key}" changes in training but is not a BN running ` +
              'statistic, so its parallel update cannot be combined; train with --parallel 1',
          );
        }
        continue;
      }
      tf.tidy(() => v.assign(tf.tensor(values, v.shape)));
    }
    const last = results[results.length - 1];
    return { losses: results.flatMap((r) => r.losses), grads, lossIteration: last.lossIteration };
  }

  /** Terminates every worker (pending computations reject). */
  async close(): Promise<void> {
    await Promise.all(
      this.slots.map(async (s) => {
        s.dead ??= new ArcfaceError('BAD_CONFIG', 'GradientPool: used after close()');
        s.pending?.reject(s.dead);
        s.pending = undefined;
        await s.worker.terminate();
      }),
    );
  }

  /** The trainer's variables must be the ones the workers build from the config. */
  private checkLayout(params: Map<string, tf.Variable>, state: Map<string, tf.Variable>) {
    const check = (kind: string, mine: Map<string, tf.Variable>, theirs: Map<string, number>) => {
      for (const [key, v] of mine)
        if (theirs.get(key) !== v.size)
          throw new ArcfaceError(
            'BAD_CONFIG',
            `GradientPool: ${kind} "${key}" [${v.shape}] ${theirs.has(key) ? 'has another size' : 'is missing'} in the ` +
              "workers' model, which they build from the config (createTrainBackbone + headFromConfig): train that model",
          );
      if (mine.size !== theirs.size)
        throw new ArcfaceError(
          'BAD_CONFIG',
          `GradientPool: the workers' model has ${theirs.size} ${kind}s, the trainer's ${mine.size}`,
        );
    };
    check('parameter', params, this.layout.params);
    check('state variable', state, new Map([...this.layout.state].map(([k, s]) => [k, s.size])));
  }
}

/** Routes a slot's messages to its pending request; a dying worker rejects it. */
function listen(slot: Slot) {
  const die = (err: Error) => {
    if (slot.dead) return;
    slot.dead = new ArcfaceError('BACKEND', `gradient worker ${slot.index} stopped: ${err.message}`);
    slot.pending?.reject(slot.dead);
    slot.pending = undefined;
  };
  slot.worker.on('message', (m: WorkerReply) => {
    const p = slot.pending;
    const id = m.type === 'ready' ? READY : m.id;
    if (!p || p.id !== id) return;
    slot.pending = undefined;
    if (m.type !== 'error') return p.resolve(m);
    if (/Aborted\(\)/.test(m.message)) {
      // emscripten's abort: that wasm instance is gone for good.
      p.reject(
        new ArcfaceError(
          'OUT_OF_MEMORY',
          `gradient worker ${slot.index}: the wasm backend aborted, almost certainly out of memory (its heap ` +
            'stops at 4 GiB). Use a smaller batchSize (with more accumulate) or the tensorflow backend.',
        ),
      );
      die(new Error('wasm abort'));
      void slot.worker.terminate();
      return;
    }
    p.reject(
      new GradientWorkerError(
        m.code ?? 'BACKEND',
        `gradient worker ${slot.index}: ${m.message}`,
        m.microBatch,
      ),
    );
  });
  slot.worker.on('error', die);
  slot.worker.on('exit', (code) => die(new Error(`exit code ${code}`)));
}

function expect(slot: Slot, id: number): Promise<WorkerReply> {
  if (slot.dead) return Promise.reject(slot.dead);
  return new Promise((resolve, reject) => {
    slot.pending = { id, resolve, reject };
  });
}
