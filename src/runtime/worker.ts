/**
 * Starts a worker thread on a module beside the caller: `NAME.js` in dist/, or `NAME.ts` under
 * tsx (tests, benches). Loader hooks registered by `--import tsx` do not reach a worker in Node 20
 * (not even with the parent's execArgv), so there a small bootstrap registers tsx's ESM hooks
 * inside the worker before importing the .ts file. Used by the data loader's decoders and the
 * data-parallel gradient workers.
 */
import { Worker } from 'node:worker_threads';

/** `callerUrl`: the caller's import.meta.url; `name`: the worker module's file name without extension. */
export function startModuleWorker(callerUrl: string, name: string, workerData: unknown): Worker {
  const execArgv = workerExecArgv(process.execArgv);
  if (!callerUrl.endsWith('.ts'))
    return new Worker(new URL(`./${name}.js`, callerUrl), { workerData, execArgv });
  const api = JSON.stringify(import.meta.resolve('tsx/esm/api'));
  const file = JSON.stringify(new URL(`./${name}.ts`, callerUrl).href);
  const boot = `import(${api}).then((tsx) => { tsx.register(); return import(${file}); });`;
  return new Worker(boot, { eval: true, workerData, execArgv });
}

/** Flags that take their value as the next argument. */
const TAKES_VALUE = new Set([
  '--import',
  '--require',
  '-r',
  '--loader',
  '--experimental-loader',
  '--conditions',
  '-C',
]);
/** Flags a worker may take and that matter to it: loaders, module resolution, memory, warnings. */
const WORKER_FLAGS = new Set([
  ...TAKES_VALUE,
  '--enable-source-maps',
  '--max-old-space-size',
  '--expose-gc',
  '--no-warnings',
  '--no-deprecation',
]);

/**
 * The parent's flags a worker should inherit. Not all of them: a worker refuses process-wide ones
 * (Node 24's test runner hands every child its defaults, e.g. --secure-heap, --v8-pool-size) and
 * the code of `-e`/`-p`.
 */
export function workerExecArgv(parent: readonly string[]): string[] {
  const out: string[] = [];
  for (let k = 0; k < parent.length; k++) {
    const a = parent[k]!;
    const name = a.split('=')[0]!;
    if (!WORKER_FLAGS.has(name)) {
      if (['-e', '--eval', '-p', '--print', '--input-type'].includes(a)) k++;
      continue;
    }
    out.push(a);
    if (TAKES_VALUE.has(a) && k + 1 < parent.length) out.push(parent[++k]!);
  }
  return out;
}
