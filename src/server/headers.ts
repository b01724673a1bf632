/**
 * Headers on every response. No page of another site may frame ours (clickjacking the enroll and
 * delete buttons) or embed an API answer (a crop as an <img>); nothing is sniffed into another
 * type; no URL leaks in a Referer. The page sets its own Content-Security-Policy (web.ts); every
 * other answer gets one that lets nothing run, and is not cached (crops are biometric data).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';

export async function securityHeaders(
  _req: FastifyRequest,
  reply: FastifyReply,
  payload: unknown,
): Promise<unknown> {
  reply.header('x-content-type-options', 'nosniff');
  reply.header('x-frame-options', 'DENY');
  reply.header('referrer-policy', 'no-referrer');
  reply.header('cross-origin-resource-policy', 'same-origin');
  if (!reply.hasHeader('content-security-policy')) {
    reply.header('content-security-policy', "default-src 'none'; frame-ancestors 'none'");
    if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
  }
  return payload;
}
