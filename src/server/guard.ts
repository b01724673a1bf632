/**
 * The checks every request passes before any route runs, in this order: the Host header names this
 * server (hosts.ts), the page is not another site's (origin.ts, with CORS for allowed origins), the
 * key (auth.ts); and the security headers on every answer (headers.ts).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { KeyStore } from '../service/keys.js';
import { authHook, keyedAtStart } from './auth.js';
import { securityHeaders } from './headers.js';
import { DEFAULT_HOST, hostName, hostNames, isLoopback } from './hosts.js';
import { originHook } from './origin.js';
import { refuse } from './refuse.js';

export interface GuardOptions {
  /** The address the server binds (default 127.0.0.1): loopback checks Host; any other needs keys. */
  host?: string;
  /** More names the Host header may carry (a reverse proxy's), beside the loopback ones. */
  allowedHosts?: readonly string[];
  /** Origins of other sites' pages that may call the API (answered with CORS). */
  corsOrigins?: readonly string[];
}

export function guard(app: FastifyInstance, keys: KeyStore, opts: GuardOptions): void {
  const bind = opts.host ?? DEFAULT_HOST;
  const names = hostNames(bind, opts.allowedHosts);
  if (names)
    app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
      const name = hostName(req.headers.host);
      if (!name || !names.has(name))
        return refuse(
          reply,
          421,
          'BAD_HOST',
          'this server does not answer to that host name; an operator may allow one with ' +
            "'arcface serve --allow-host NAME' (behind a reverse proxy)",
        );
    });
  app.addHook('onRequest', originHook(opts.corsOrigins ?? []));
  app.addHook('onRequest', authHook(keys, keyedAtStart(keys, isLoopback(bind))));
  app.addHook('onSend', securityHeaders);
}
