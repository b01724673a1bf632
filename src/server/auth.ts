/**
 * Who may call what. Every route declares its access in `config.access`: 'public' (health, the
 * OpenAPI document, the web page), 'recognise' (read-only: detect, embed, verify, identify, list,
 * get) or 'admin' (also create, enroll, delete). A key is sent as `x-api-key` or
 * `Authorization: Bearer`. With no key configured the server is open, which listen.ts allows only on
 * a loopback address.
 */
import type { FastifyRequest } from 'fastify';
import type { KeyKind, KeyStore } from '../service/keys.js';
import { ServiceError } from '../service/errors.js';

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

/** An onRequest hook enforcing each route's access (routes that declare none are admin-only). */
export function authHook(keys: KeyStore) {
  return async (req: FastifyRequest): Promise<void> => {
    // No route matched: the 404 answer tells nothing the public OpenAPI document does not.
    if (req.routeOptions.url === undefined) return;
    const access = req.routeOptions.config?.access ?? 'admin';
    if (access === 'public' || keys.size === 0) return;
    const token = presentedToken(req);
    if (!token) throw new ServiceError('UNAUTHORIZED', 'an API key is required: send it as x-api-key');
    const key = keys.check(token);
    if (!key) throw new ServiceError('UNAUTHORIZED', 'unknown or revoked API key');
    req.keyKind = key.kind;
    if (access === 'admin' && key.kind !== 'admin')
      throw new ServiceError('FORBIDDEN', `this needs an admin key; key ${key.id} is a ${key.kind} key`);
  };
}
