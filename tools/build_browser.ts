/**
 * Writes the browser build, dist/browser/arcface.js (+ its chunks), from src/browser/: what
 * `arcface serve` serves at /lib/ and `import 'arcface/browser'` resolves to. Run by `npm run build`
 * and `prepare` (npm run build:browser).
 *
 *   node --import tsx tools/build_browser.ts
 */
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { BROWSER_DIST, buildBrowserBundle, isBundleFile } from '../src/server/browser_bundle.js';

mkdirSync(BROWSER_DIST, { recursive: true });
// Chunk names carry a hash: the last build's would linger beside the new ones.
for (const name of readdirSync(BROWSER_DIST).filter(isBundleFile)) rmSync(join(BROWSER_DIST, name));
const files = await buildBrowserBundle(BROWSER_DIST);
for (const [name, bytes] of files)
  process.stdout.write(`${join('dist/browser', name)}  ${(bytes.length / 1024).toFixed(0)} KiB\n`);
