/**
 * A bounded work queue: at most `concurrency` jobs run, at most `queue` wait (FIFO), and more are
 * refused at once with BUSY rather than piling up. A job's slot is held until its work settles, not
 * until its caller gives up: a timed-out job that has not noticed its signal yet still counts, so
 * timeouts never let more work run than the limit. A waiting job whose signal aborts leaves the
 * queue without running.
 */
import { ServiceError } from './errors.js';

export interface QueueOptions {
  /** Jobs running at once (default 2: one decodes while another runs the network). */
  concurrency?: number;
  /** Jobs waiting for a slot beyond those (default 16). */
  queue?: number;
}

export const DEFAULT_CONCURRENCY = 2;
export const DEFAULT_QUEUE = 16;

interface Waiting {
  start(): void;
}

export class WorkQueue {
  readonly concurrency: number;
  readonly queue: number;
  private active = 0;
  private readonly waiters: Waiting[] = [];
  /** A moving average of job durations, for Retry-After. */
  private averageMs = 0;

  constructor(opts: QueueOptions = {}) {
    this.concurrency = opts.concurrency ?? DEFAULT_CONCURRENCY;
    this.queue = opts.queue ?? DEFAULT_QUEUE;
    if (!(Number.isInteger(this.concurrency) && this.concurrency >= 1))
      throw new ServiceError('BAD_INPUT', `concurrency must be a positive integer, got ${opts.concurrency}`);
    if (!(Number.isInteger(this.queue) && this.queue >= 0))
      throw new ServiceError('BAD_INPUT', `queue must be a whole number, got ${opts.queue}`);
  }

  get running(): number {
    return this.active;
  }

  get waiting(): number {
    return this.waiters.length;
  }

  /** Seconds until a refused caller may find room: the jobs ahead times their average length. */
  retryAfterSeconds(): number {
    const ahead = (this.active + this.waiters.length) / this.concurrency;
    return Math.min(60, Math.max(1, Math.ceil((ahead * this.averageMs) / 1000)));
  }

  /** Runs `work` in a slot; rejects with BUSY when the queue is full, or the signal's reason. */
  run<T>(work: (signal: AbortSignal) => Promise<T>, signal: AbortSignal): Promise<T> {
    if (signal.aborted) return Promise.reject(signal.reason);
    if (this.active < this.concurrency) return this.start(work, signal);
    if (this.waiters.length >= this.queue)
      return Promise.reject(
        new ServiceError(
          'BUSY',
          `the server is busy (${this.active} request(s) working, ${this.waiters.length} waiting); ` +
            `retry in ${this.retryAfterSeconds()} s`,
        ),
      );
    return new Promise<T>((resolve, reject) => {
      const entry: Waiting = {
        start: () => {
          signal.removeEventListener('abort', leave);
          this.start(work, signal).then(resolve, reject);
        },
      };
      const leave = () => {
        this.waiters.splice(this.waiters.indexOf(entry), 1);
        reject(signal.reason);
      };
      signal.addEventListener('abort', leave, { once: true });
      this.waiters.push(entry);
    });
  }

  private async start<T>(work: (signal: AbortSignal) => Promise<T>, signal: AbortSignal): Promise<T> {
    this.active++;
    const t0 = performance.now();
    try {
      return await work(signal);
    } finally {
      const ms = performance.now() - t0;
      this.averageMs = this.averageMs === 0 ? ms : 0.8 * this.averageMs + 0.2 * ms;
      this.active--;
      this.waiters.shift()?.start();
    }
  }
}
