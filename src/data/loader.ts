/**
 * Training batches: a seeded shuffle per epoch, horizontal flips decided per (seed, epoch, item),
 * decoding and normalisation in worker threads with a few batches prefetched, so a training step
 * finds its next batch ready instead of waiting for sharp.
 *
 * Choices, as arcface_torch's DataLoader(shuffle=True, drop_last=True) with RandomHorizontalFlip:
 * - The last partial batch of an epoch is dropped: every step has the same batch size (BatchNorm
 *   statistics and the margin head's memory check stay fixed). Items land in the dropped tail at
 *   random, so over epochs every image is used.
 * - Order and flips are pure functions of (seed, epoch[, item]): a resumed run gets the same data,
 *   `epoch(e, { fromBatch })` starts mid-epoch without decoding what it skips, and the number of
 *   workers or their timing never changes a batch.
 * - A crop that cannot be used (unreadable, not size x size) is reported once by file name and its
 *   slot is filled by the next usable item of the epoch order (wrapping), so the run goes on with a
 *   full batch; which item replaces it is again fixed by the seed. Bad files are remembered and not
 *   decoded again.
 */
import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import { startModuleWorker } from '../runtime/worker.js';
import { ArcfaceError, badInput } from '../errors.js';
import { rng, shuffle } from '../util/random.js';
import { CROP_SIZE, type FaceDataset, type Normalisation } from './dataset.js';
import { decodeBatch, WORKER_FLAG, type DecodeJob, type DecodeResult } from './decode_worker.js';

export interface LoaderOptions {
  batchSize: number;
  seed: number;
  /** Random horizontal flip with p = 0.5 (default true). */
  flip?: boolean;
  /** Decoding threads; 0 decodes in the calling thread (default min(2, cores)). */
  workers?: number;
  /** Batches decoded ahead of the consumer (default max(2, 2 * workers)). */
  prefetch?: number;
  /** Crop side (default 112). */
  size?: number;
  /** Per-channel normalisation (default (v - 127.5) / 127.5, the ArcFace backbones'). */
  norm?: Normalisation;
  /** Told once per unusable file (default: a line on stderr). */
  onSkip?: (file: string, message: string) => void;
}

export interface Batch {
  epoch: number;
  /** Index of the batch within its epoch. */
  index: number;
  /** N * size * size * 3, NHWC, RGB, normalised ((v - 127.5) / 127.5 by default). */
  images: Float32Array;
  labels: Int32Array;
  files: string[];
  flipped: boolean[];
}

export interface EpochOptions {
  /** Start at this batch (resume); the batches before it are not decoded. */
  fromBatch?: number;
}

/** 32-bit mix of a few integers (murmur3's finaliser per word): seeds from (seed, epoch, item). */
export function mixSeed(...xs: number[]): number {
  let h = 0x9e3779b9;
  for (const x of xs) {
    h = Math.imul(h ^ (x >>> 0), 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
  }
  return h >>> 0;
}

/** The permutation of item indices for one epoch. */
export function epochOrder(n: number, seed: number, epoch: number): Uint32Array {
  const order = Array.from({ length: n }, (_, i) => i);
  return Uint32Array.from(shuffle(order, rng(mixSeed(seed, epoch, 0x5eed))));
}

/** Whether item `item` is mirrored in epoch `epoch`: p = 0.5, independent of batch and timing. */
export function flipOf(seed: number, epoch: number, item: number): boolean {
  return rng(mixSeed(seed, epoch, item, 0xf11b))() < 0.5;
}

export interface FaceLoader {
  readonly dataset: FaceDataset;
  readonly batchSize: number;
  /** floor(items / batchSize): the last partial batch is dropped. */
  readonly batchesPerEpoch: number;
  readonly workers: number;
  /** Files skipped so far, with the reason. */
  readonly skipped: ReadonlyMap<string, string>;
  epoch(e: number, opts?: EpochOptions): AsyncIterable<Batch>;
  close(): Promise<void>;
}

export function createLoader(ds: FaceDataset, opts: LoaderOptions): FaceLoader {
  return new Loader(ds, opts);
}

const positiveInt = (v: number) => Number.isInteger(v) && v > 0;

class Loader implements FaceLoader {
  readonly batchSize: number;
  readonly batchesPerEpoch: number;
  readonly workers: number;
  readonly skipped = new Map<string, string>();
  private readonly seed: number;
  private readonly flip: boolean;
  private readonly prefetch: number;
  private readonly size: number;
  private readonly norm?: Normalisation;
  private readonly onSkip: (file: string, message: string) => void;
  private readonly pool?: DecodePool;
  private nextJob = 0;
  private closed = false;

  constructor(
    readonly dataset: FaceDataset,
    opts: LoaderOptions,
  ) {
    const { batchSize, seed } = opts;
    if (!positiveInt(batchSize))
      throw badInput(`loader: batchSize must be a positive integer, got ${batchSize}`);
    if (!Number.isInteger(seed)) throw badInput(`loader: seed must be an integer, got ${seed}`);
    const n = dataset.items.length;
    if (n < batchSize)
      throw badInput(`loader: ${n} images make no full batch of ${batchSize} (lower batchSize)`);
    this.workers = opts.workers ?? Math.min(2, availableParallelism());
    if (!Number.isInteger(this.workers) || this.workers < 0)
      throw badInput(`loader: workers must be an integer >= 0, got ${opts.workers}`);
    this.prefetch = opts.prefetch ?? Math.max(2, 2 * this.workers);
    if (!positiveInt(this.prefetch))
      throw badInput(`loader: prefetch must be a positive integer, got ${opts.prefetch}`);
    this.size = opts.size ?? CROP_SIZE;
    if (!positiveInt(this.size)) throw badInput(`loader: size must be a positive integer, got ${opts.size}`);
    this.norm = opts.norm;
    this.batchSize = batchSize;
    this.batchesPerEpoch = Math.floor(n / batchSize);
    this.seed = seed;
    this.flip = opts.flip ?? true;
    this.onSkip =
      opts.onSkip ??
      ((file, message) => process.stderr.write(`arcface loader: skipping ${file}: ${message}\n`));
    if (this.workers > 0) this.pool = new DecodePool(this.workers);
  }

  epoch(e: number, opts: EpochOptions = {}): AsyncIterable<Batch> {
    if (!Number.isInteger(e) || e < 0) throw badInput(`loader: epoch must be an integer >= 0, got ${e}`);
    const from = opts.fromBatch ?? 0;
    if (!Number.isInteger(from) || from < 0 || from > this.batchesPerEpoch)
      throw badInput(`loader: fromBatch ${from} is not in 0..${this.batchesPerEpoch}`);
    return { [Symbol.asyncIterator]: () => this.batches(e, from) };
  }

  private async *batches(e: number, from: number): AsyncGenerator<Batch> {
    const order = epochOrder(this.dataset.items.length, this.seed, e);
    const queue: Promise<Batch>[] = [];
    let next = from;
    const fill = () => {
      while (queue.length < this.prefetch && next < this.batchesPerEpoch) {
        const p = this.batch(order, e, next++);
        p.catch(() => {}); // awaited below; this only keeps an abandoned prefetch from being "unhandled"
        queue.push(p);
      }
    };
    fill();
    while (queue.length) {
      const b = await queue.shift()!;
      fill();
      yield b;
    }
  }

  private decode(files: string[], flips: boolean[]): Promise<DecodeResult> {
    if (this.closed) return Promise.reject(new ArcfaceError('BAD_CONFIG', 'loader: used after close()'));
    const job: DecodeJob = { id: this.nextJob++, files, flips, size: this.size, norm: this.norm };
    return this.pool ? this.pool.run(job) : decodeBatch(job);
  }

  private markBad(file: string, message: string) {
    if (this.skipped.has(file)) return;
    this.skipped.set(file, message);
    this.onSkip(file, message);
  }

  private async batch(order: Uint32Array, epoch: number, index: number): Promise<Batch> {
    const { items } = this.dataset;
    const n = order.length;
    const B = this.batchSize;
    const per = this.size * this.size * 3;
    const flipOfItem = (i: number) => this.flip && flipOf(this.seed, epoch, i);
    const slots = Array.from(order.subarray(index * B, (index + 1) * B));
    // Known-bad files are not decoded again; they fail here exactly as they would in a worker.
    const want = slots.map((i, s) => ({ i, s })).filter(({ i }) => !this.skipped.has(items[i].file));
    const r = await this.decode(
      want.map(({ i }) => items[i].file),
      want.map(({ i }) => flipOfItem(i)),
    );
    let images: Float32Array;
    const failedSlots = new Set(slots.map((_, s) => s).filter((s) => !want.some((w) => w.s === s)));
    if (want.length === B) images = r.images;
    else {
      images = new Float32Array(B * per);
      want.forEach(({ s }, k) => images.set(r.images.subarray(k * per, (k + 1) * per), s * per));
    }
    for (const f of r.failed) {
      const { i, s } = want[f.slot];
      this.markBad(items[i].file, f.message);
      failedSlots.add(s);
    }
    // Fill each failed slot with the next usable item after it in the epoch order.
    for (const s of [...failedSlots].sort((a, b) => a - b)) {
      const pos = index * B + s;
      let filled = false;
      for (let k = 1; k < n && !filled; k++) {
        const i = order[(pos + k) % n];
        const file = items[i].file;
        if (this.skipped.has(file)) continue;
        const one = await this.decode([file], [flipOfItem(i)]);
        if (one.failed.length) {
          this.markBad(file, one.failed[0].message);
          continue;
        }
        images.set(one.images, s * per);
        slots[s] = i;
        filled = true;
      }
      if (!filled) throw badInput(`loader: no usable crop left in ${this.dataset.root} (every file failed)`);
    }
    return {
      epoch,
      index,
      images,
      labels: Int32Array.from(slots, (i) => items[i].label),
      files: slots.map((i) => items[i].file),
      flipped: slots.map((i) => flipOfItem(i)),
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool?.close();
  }
}

/** A decoder thread on decode_worker (src/runtime/worker.ts: dist .js or tsx .ts). */
function startWorker(): Worker {
  return startModuleWorker(import.meta.url, 'decode_worker', { [WORKER_FLAG]: true });
}

interface Pending {
  resolve: (r: DecodeResult) => void;
  reject: (e: Error) => void;
}

class DecodePool {
  private readonly slots: { worker: Worker; jobs: Map<number, Pending>; dead?: Error }[] = [];

  constructor(count: number) {
    for (let k = 0; k < count; k++) {
      const worker = startWorker();
      const slot: (typeof this.slots)[number] = { worker, jobs: new Map() };
      worker.on('message', (m: DecodeResult & { error?: string }) => {
        const p = slot.jobs.get(m.id);
        if (!p) return;
        slot.jobs.delete(m.id);
        if (slot.jobs.size === 0) worker.unref();
        if (m.error !== undefined) p.reject(new ArcfaceError('BACKEND', `loader worker: ${m.error}`));
        else p.resolve(m);
      });
      const die = (err: Error) => {
        slot.dead = new ArcfaceError('BACKEND', `loader worker ${k} stopped: ${err.message}`);
        for (const p of slot.jobs.values()) p.reject(slot.dead);
        slot.jobs.clear();
      };
      worker.on('error', die);
      worker.on('exit', (code) => {
        if (!slot.dead) die(new Error(`exit code ${code}`));
      });
      worker.unref(); // an idle pool never keeps the process alive
      this.slots.push(slot);
    }
  }

  run(job: DecodeJob): Promise<DecodeResult> {
    const live = this.slots.filter((s) => !s.dead);
    if (live.length === 0) return Promise.reject(this.slots[0].dead!);
    const slot = live.reduce((a, b) => (b.jobs.size < a.jobs.size ? b : a));
    return new Promise((resolve, reject) => {
      slot.jobs.set(job.id, { resolve, reject });
      slot.worker.ref();
      slot.worker.postMessage(job);
    });
  }

  async close(): Promise<void> {
    for (const s of this.slots) s.dead ??= new ArcfaceError('BAD_CONFIG', 'loader: closed');
    await Promise.all(
      this.slots.map(async (s) => {
        for (const p of s.jobs.values()) p.reject(s.dead!);
        s.jobs.clear();
        await s.worker.terminate();
      }),
    );
  }
}
