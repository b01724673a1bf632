/** The HTTP API of `arcface serve`. */
export { buildServer, DEFAULT_MAX_UPLOAD, type ServerOptions } from './app.js';
export { startServer, checkBind, isLoopback, DEFAULT_HOST, DEFAULT_PORT } from './listen.js';
export { toHttpError, type HttpError } from './errors.js';
export type { Access } from './auth.js';
