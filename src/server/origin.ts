/**
 * Requests from other sites' pages. A browser lets any page send "simple" requests anywhere (a
 * no-cors multipart POST is one: it enrolled an attacker's face into a keyless server) and load
 * images from anywhere (a crop's size is then readable), so on every protected route a request the
 * browser marks as coming from another site is refused, reads included. `Sec-Fetch-Site` says so in
 * current browsers ("same-site" too: another port of 127.0.0.1 is same-site but not same-origin);
 * older ones send only `Origin`, compared with the Host header. Clients that are not browsers send
 * neither and are not concerned. Origins an operator allows (`--cors-origin`) are answered with CORS
 * and may call, with a key when the server has keys.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { badInput } from '../errors.js';
import { refuse } from './refuse.js';

/** An origin as browsers send it ("https://app.example:8443"), from an operator's URL. */
export function corsOrigin(value: string): string {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw badInput(`--cors-origin: '${value}' is not a URL (e.g. https://app.example)`);
  }
  if (!/^https?:$/.test(u.protocol) || u.pathname !== '/' || u.search || u.hash || u.username)
    throw badInput(`--cors-origin: '${value}' is not an origin: give scheme, host and port only`);
  return u.origin;
}

/** True when a browser says this request comes from a page of another origin. */
export function isCrossSite(req: FastifyRequest): boolean {
  const site = req.headers['sec-fetch-site'];
  if (typeof site === 'string') return site !== 'same-origin' && site !== 'none';
  const origin = req.headers.origin;
  if (origin === undefined) return false;
  try {
    return new URL(origin).host !== (req.headers.host ?? '').toLowerCase();
  } catch {
    return true; // "null": a sandboxed frame, a file:// page
  }
}

const CROSS_SITE =
  "a page of another site may not call this API; an operator may allow one origin with 'arcface serve --cors-origin URL'";

/** An onRequest hook: CORS for the allowed origins, and the refusal of every other cross-site call. */
export function originHook(allowedOrigins: readonly string[]) {
  const allowed = new Set(allowedOrigins.map(corsOrigin));
  return async (req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | void> => {
    const origin = req.headers.origin;
    const ok = origin !== undefined && allowed.has(origin);
    if (allowed.size) reply.header('vary', 'Origin');
    if (ok) reply.header('access-control-allow-origin', origin);
    if (req.method === 'OPTIONS' && origin !== undefined && req.headers['access-control-request-method']) {
      if (!ok) return refuse(reply, 403, 'CROSS_SITE', CROSS_SITE);
      return reply
        .code(204)
        .headers({
          'access-control-allow-methods': 'GET, POST, DELETE',
          'access-control-allow-headers': 'x-api-key, authorization, content-type',
          'access-control-max-age': '600',
        })
        .send();
    }
    // No route matched: the 404 tells nothing. Public routes (the page, health) may be linked to.
    if (req.routeOptions.url === undefined || req.routeOptions.config?.access === 'public') return;
    if (!ok && isCrossSite(req)) return refuse(reply, 403, 'CROSS_SITE', CROSS_SITE);
  };
}
