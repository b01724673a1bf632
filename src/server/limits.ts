/**
 * Bounded work per request. Requests with a body are admitted before their body is read only while
 * fewer than concurrency + queue are in flight (else 503 BUSY at once), and only when their declared
 * size is within the body limit (else 413); each admitted request's work (decode, detect, embed)
 * runs in a slot of the work queue; at the time limit the work is aborted, answered with 503
 * TIMEOUT, and stops at its next stage (the service checks the signal). Every 503 has Retry-After.
 *
 * Memory follows from the limits: at most concurrency + queue bodies are held (each ~2.5 x the body
 * limit while parsed and decoded from base64) and at most `concurrency` decoded images (~8 bytes a
 * pixel while decoding and detecting). Defaults (10 MiB uploads, so a 28 MB body limit; 2 + 16;
 * 50 MP): 18 x 70 MB + 2 x 400 MB, about 2.1 GB over the models. Measured: 200 concurrent /verify
 * of two 10 MB images +1.2 GB, 30 concurrent 50 MP PNGs +0.63 GB.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ServiceError } from '../service/errors.js';
import { WorkQueue, type QueueOptions } from '../service/queue.js';
import type { ServerContext } from './context.js';

export interface LimitOptions extends QueueOptions {
  /** Milliseconds a request's work may take, waiting for its slot included. */
  timeoutMs: number;
}

/**
 * Node's idle-socket timeout (Fastify's connectionTimeout): longer than the work may take, so the
 * 503 TIMEOUT is written before the socket could be closed under it. Slow uploads are bounded by
 * requestTimeout (receiving the request), idle keep-alive sockets by keepAliveTimeout.
 */
export const socketTimeoutMs = (timeoutMs: number): number => timeoutMs + 30_000;

const declaredBytes = (req: FastifyRequest): number => Number(req.headers['content-length'] ?? 0);
const hasBody = (req: FastifyRequest): boolean =>
  declaredBytes(req) > 0 || req.headers['transfer-encoding'] !== undefined;

/** Installs the admission and Retry-After hooks; returns the context's `within`. */
export function installLimits(app: FastifyInstance, opts: LimitOptions): ServerContext['within'] {
  const queue = new WorkQueue(opts);
  const { timeoutMs } = opts;
  const maxInFlight = queue.concurrency + queue.queue;
  const { bodyLimit } = app.initialConfig;
  let inFlight = 0;

  // Before the body is read: the errors go through the error handler (413, 503 + Retry-After).
  app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
    if (req.routeOptions.url === undefined || !hasBody(req)) return;
    // Fastify checks JSON bodies so; multipart ones would otherwise hold up to files x file size.
    if (bodyLimit !== undefined && declaredBytes(req) > bodyLimit)
      throw new ServiceError(
        'TOO_LARGE',
        `the request body is ${declaredBytes(req)} bytes, over the ${bodyLimit}-byte limit`,
      );
    if (inFlight >= maxInFlight)
      throw new ServiceError(
        'BUSY',
        `the server is busy (${inFlight} requests in progress); retry in ${queue.retryAfterSeconds()} s`,
      );
    inFlight++;
    reply.raw.once('close', () => inFlight--);
  });
  app.addHook('onSend', async (_req, reply) => {
    if (reply.statusCode === 503 && !reply.hasHeader('retry-after'))
      reply.header('retry-after', String(queue.retryAfterSeconds()));
  });

  return <T>(work: (signal: AbortSignal) => Promise<T>): Promise<T> => {
    const ac = new AbortController();
    const timer = setTimeout(
      () =>
        ac.abort(new ServiceError('TIMEOUT', `the request took over ${timeoutMs} ms; try a smaller image`)),
      timeoutMs,
    );
    // Answered at the limit even when the work is inside one long step (a decode); the slot stays
    // taken until that step ends and the work notices the signal.
    const aborted = new Promise<never>((_, reject) =>
      ac.signal.addEventListener('abort', () => reject(ac.signal.reason), { once: true }),
    );
    return Promise.race([queue.run(work, ac.signal), aborted]).finally(() => clearTimeout(timer));
  };
}
