/** Models: manifests, the zoo, the cache folder, `pull`, resolution of a model spec, the embedder. */
export * from './manifest.js';
export * from './zoo.js';
export * from './cache.js';
export * from './pull.js';
export * from './resolve.js';
export * from './embedder.js';
export * from './user_config.js';
export { listZip, findEntry, extractEntry, type ZipEntry } from './zip.js';
