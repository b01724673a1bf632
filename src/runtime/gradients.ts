/**
 * tfjs-core's package entry (its CommonJS node bundle) registers no gradient functions: they
 * live only in its unbundled ES-module files (dist/gradients), which the tfjs union package
 * imports. Those files use extension-less relative imports and sit in a package without
 * "type": "module", so Node cannot load them as they are. A two-rule loader hook, scoped to
 * that folder, adds the ".js" and declares the format; then the stock registration runs.
 * The registries are process globals shared by both copies of tfjs-core, so the CommonJS
 * `tf` we use sees the gradients. Skipped when some other module already registered them.
 */
import { register } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';

const HOOK = `
const DIST = '/@tensorflow/tfjs-core/dist/';
const BUNDLE = /tf-core(\\.[a-z0-9]+)*\\.js$/;
export async function resolve(specifier, context, next) {
  const parent = context.parentURL ?? '';
  if (parent.includes(DIST) && /^\\.\\.?\\//.test(specifier) && !/\\.[cm]?js$/.test(specifier)) {
    return next(specifier + '.js', context);
  }
  return next(specifier, context);
}
export async function load(url, context, next) {
  if (url.includes(DIST) && !BUNDLE.test(url)) return next(url, { ...context, format: 'module' });
  return next(url, context);
}
`;

let done: Promise<void> | undefined;

/** Registers tfjs-core's gradient functions once per process. */
export function ensureGradients(): Promise<void> {
  done ??= (async () => {
    if (tf.getGradient('Sum') !== undefined) return;
    register('data:text/javascript,' + encodeURIComponent(HOOK));
    await import('@tensorflow/tfjs-core/dist/register_all_gradients.js' as string);
  })();
  return done;
}
