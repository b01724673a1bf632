/**
 * Binding: 127.0.0.1 by default. With no API key configured the API is open, so it may only listen on
 * a loopback address; binding anything else without a key is refused before the socket opens (and
 * such a server refuses every request if its keys go later: auth.ts).
 */
import type { FastifyInstance } from 'fastify';
import { badInput } from '../errors.js';
import type { KeyStore } from '../service/keys.js';
import { buildServer, type ServerOptions } from './app.js';
import { DEFAULT_HOST, isLoopback } from './hosts.js';

export { DEFAULT_HOST, isLoopback };
export const DEFAULT_PORT = 8080;

/** Throws a clear message when `host` is not loopback and no key exists. */
export function checkBind(host: string, keys: KeyStore): void {
  if (!isLoopback(host) && keys.size === 0)
    throw badInput(
      `refusing to listen on ${host} with no API key: anyone who can reach it could read and delete ` +
        `the galleries. Create a key first ("arcface keys create --kind admin", keys in ${keys.file}), ` +
        `or listen on 127.0.0.1`,
    );
}

export async function startServer(
  opts: ServerOptions & { host?: string; port?: number },
): Promise<{ app: FastifyInstance; url: string }> {
  const host = opts.host ?? DEFAULT_HOST;
  checkBind(host, opts.keys);
  const app = await buildServer({ ...opts, host });
  try {
    await app.listen({ host, port: opts.port ?? DEFAULT_PORT });
  } catch (err) {
    await app.close();
    throw badInput(`cannot listen on ${host}:${opts.port ?? DEFAULT_PORT}: ${(err as Error).message}`);
  }
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : opts.port;
  const shown = host.includes(':') ? `[${host}]` : host;
  return { app, url: `http://${shown}:${port}/` };
}
