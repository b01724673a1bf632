/**
 * The web page (src/server/web/): every file is read once at start into memory and served from
 * there, by an exact name from that list, so no request value is ever joined to a path. No CDN:
 * whatever the page needs lives in that folder.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import type { FastifyInstance } from 'fastify';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
};

/**
 * The page runs its own files only, is framed by no one, posts forms nowhere (headers.ts adds the
 * rest); it may compile WebAssembly ('wasm-unsafe-eval', not 'unsafe-eval'): the browser build's
 * onnxruntime-web (lib_routes.ts), which runs under this policy too.
 */
export const PAGE_CSP =
  "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; img-src 'self' data: blob:; " +
  "media-src 'self' blob:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/** The page's folder: beside this file, or (running from dist/, which tsc does not copy it into) in src/. */
export function webDir(): string | null {
  const here = join(import.meta.dirname, 'web');
  if (existsSync(here)) return here;
  const src = join(import.meta.dirname, '../../src/server/web');
  return existsSync(src) ? src : null;
}

export function webRoutes(app: FastifyInstance, dir: string | null = webDir()): void {
  const files = new Map<string, { type: string; body: Buffer }>();
  if (dir)
    for (const name of readdirSync(dir)) {
      const type = TYPES[extname(name).toLowerCase()];
      if (type && statSync(join(dir, name)).isFile())
        files.set(name, { type, body: readFileSync(join(dir, name)) });
    }
  const send = (name: string) => {
    const f = files.get(name);
    return f ? { type: f.type, body: f.body } : null;
  };
  const headers = { 'content-security-policy': PAGE_CSP };
  app.get('/', { config: { access: 'public' }, schema: { hide: true } }, async (_req, reply) => {
    const f = send('index.html');
    if (!f) return reply.code(404).send({ error: { code: 'NOT_FOUND', message: 'no web page installed' } });
    return reply.headers(headers).type(f.type).send(f.body);
  });
  app.get<{ Params: { file: string } }>(
    '/web/:file',
    { config: { access: 'public' }, schema: { hide: true } },
    async (req, reply) => {
      const f = send(req.params.file);
      if (!f)
        return reply
          .code(404)
          .send({ error: { code: 'NOT_FOUND', message: `no file '${req.params.file}'` } });
      return reply.headers(headers).type(f.type).send(f.body);
    },
  );
}
