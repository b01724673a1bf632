/**
 * Who may call what. Every route declares its access in `config.access`: 'public' (health, the
 * OpenAPI document, the web page), 'recognise' (read-only: detect, embed, verify, identify, list,
 * get) or 'admin' (also create, enroll, delete). A key is sent as `x-api-key` or
 * `Authorization: Bearer`.
 *
 * Open or keyed is decided once, at start, and never goes back to open: a server is keyed when it is
 * bound elsewhere than loopback or has a key at start (or an unreadable keys file), and becomes keyed
 * the first time it sees a key. A keyed server with no key left (the last one revoked, keys.json
 * emptied or deleted) refuses every protected request; only an open loopback server that never had
 * a key answers without one. keys.json is re-read as it changes; while it cannot be read (corrupt,
 * unreadable) every protected request is refused with 503, whatever the mode, and the problem is
 * logged once (the file's path goes to the log, never into an answer).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { KeyKind, KeyStore } from '../service/keys.js';
import { ServiceError } from '../service/errors.js';
import { refuse } from './refuse.js';

export type Access = 'public' | 'recognise' | 'admin';

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: Access;
  }
  interface FastifyRequest {
    /** The kind of key the request came with (unset: a public route, or a server with no keys). */
    keyKind?: KeyKind;
  }
}

function presentedToken(req: FastifyRequest): string | undefined {
  const header = req.headers['x-api-key'];
  if (typeof header === 'string' && header) return header;
  const auth = req.headers.authorization;
  const m = typeof auth === 'string' ? /^Bearer\s+(\S+)$/i.exec(auth) : null;
  return m?.[1];
}

/** Whether a server starting now with these keys is keyed on this bind. */
export function keyedAtStart(keys: KeyStore, loopback: boolean): boolean {
  if (!loopback) return true;
  try {
    return keys.size > 0;
  } catch {
    return true; // an unreadable keys file was meant to hold keys
  }
}

/** An onRequest hook enforcing each route's access (routes that declare none are admin-only). */
export function authHook(keys: KeyStore, keyed: boolean) {
  let problem = ''; // the key problem last logged: each is logged when it starts and when it ends
  const report = (req: FastifyRequest, now: string) => {
    if (now === problem) return;
    if (now) req.log.error(`API keys: ${now}`);
    else req.log.warn('API keys: usable again');
    problem = now;
  };
  return async (req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | void> => {
    // No route matched: the 404 answer tells nothing the public OpenAPI document does not.
    if (req.routeOptions.url === undefined) return;
    const access = req.routeOptions.config?.access ?? 'admin';
    if (access === 'public') return;
    const token = presentedToken(req);
    let count: number;
    let key: ReturnType<KeyStore['check']> = null;
    try {
      count = keys.size;
      if (token && count) key = keys.check(token);
    } catch (err) {
      report(req, `${(err as Error).message}; refusing every request until the file is fixed`);
      return refuse(
        reply,
        503,
        'UNAVAILABLE',
        'the server cannot read its API keys: it refuses every request until an operator fixes them (see the server log)',
      );
    }
    if (count > 0) keyed = true;
    if (!keyed) return report(req, '');
    if (count === 0) {
      report(req, 'none, on a server that needs one; refusing every request until one is created');
      throw new ServiceError(
        'UNAUTHORIZED',
        'this server has no API key configured: it refuses every request until an operator creates one',
      );
    }
    report(req, '');
    if (!token) throw new ServiceError('UNAUTHORIZED', 'an API key is required: send it as x-api-key');
    if (!key) throw new ServiceError('UNAUTHORIZED', 'unknown or revoked API key');
    req.keyKind = key.kind;
    if (access === 'admin' && key.kind !== 'admin')
      throw new ServiceError('FORBIDDEN', `this needs an admin key; key ${key.id} is a ${key.kind} key`);
  };
}
