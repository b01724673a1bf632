/**
 * The browser build (src/browser/ bundled with onnxruntime-web into dist/browser/arcface.js, plus a
 * chunk for the WebGPU runtime, loaded only when asked for). `npm run build:browser` writes it
 * (tools/build_browser.ts, run by build and prepare); `arcface serve` serves those files, or, running
 * from the TypeScript sources (tests, development), bundles src/browser/ in memory at first request,
 * so it never serves a stale dist/ build. esbuild is needed only for that.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ArcfaceError } from '../errors.js';
import { PACKAGE_ROOT } from '../models/cache.js';

export const BROWSER_DIST = join(PACKAGE_ROOT, 'dist', 'browser');
const ENTRY = join(PACKAGE_ROOT, 'src', 'browser', 'index.ts');
/** The bundle's files: arcface.js and its chunks, all named arcface*.js (tsc's own output sits beside them). */
export const isBundleFile = (name: string): boolean => /^arcface[A-Za-z0-9_-]*\.js$/.test(name);

/** Bundles src/browser/ (ESM, browser); writes to `outdir` when given. File name -> bytes. */
export async function buildBrowserBundle(outdir?: string): Promise<Map<string, Uint8Array>> {
  let esbuild: typeof import('esbuild');
  try {
    esbuild = await import('esbuild');
  } catch {
    throw new ArcfaceError(
      'NOT_FOUND',
      'the browser build is missing and esbuild is not installed to make it: run "npm run build:browser" in a checkout',
    );
  }
  const result = await esbuild.build({
    entryPoints: { arcface: ENTRY },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    splitting: true,
    chunkNames: 'arcface-[hash]',
    minify: true,
    legalComments: 'eof',
    outdir: outdir ?? BROWSER_DIST,
    write: outdir !== undefined,
    logLevel: 'silent',
  });
  const files = new Map<string, Uint8Array>();
  for (const f of result.outputFiles ?? []) files.set(f.path.split(/[\\/]/).pop()!, f.contents);
  if (outdir)
    for (const name of readdirSync(outdir).filter(isBundleFile))
      files.set(name, readFileSync(join(outdir, name)));
  return files;
}

/** What the server serves at /lib/: the dist/ build when running from dist/, else a fresh bundle of the sources. */
export async function browserBundle(): Promise<Map<string, Uint8Array>> {
  const fromSources = import.meta.url.endsWith('.ts');
  if (fromSources) return buildBrowserBundle();
  if (!existsSync(join(BROWSER_DIST, 'arcface.js')))
    throw new ArcfaceError(
      'NOT_FOUND',
      'the browser build (dist/browser/arcface.js) is missing: run "npm run build:browser"',
    );
  return new Map(
    readdirSync(BROWSER_DIST)
      .filter(isBundleFile)
      .map((name) => [name, readFileSync(join(BROWSER_DIST, name))]),
  );
}
