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
  // A worker takes the parent's execArgv but refuses `--input-type` and the code of `-e`/`-p`.
  const execArgv: string[] = [];
  for (let k = 0; k < process.execArgv.length; k++) {
    const a = process.execArgv[k];
    if (['-e', '--eval', '-p', '--print', '--input-type'].includes(a)) k++;
    else if (!/^--(input-type|eval|print)=/.test(a)) execArgv.push(a);
  }
  if (!callerUrl.endsWith('.ts'))
    return new Worker(new URL(`./${name}.js`, callerUrl), { workerData, execArgv });
  const api = JSON.stringify(import.meta.resolve('tsx/esm/api'));
  const file = JSON.stringify(new URL(`./${name}.ts`, callerUrl).href);
  const boot = `import(${api}).then((tsx) => { tsx.register(); return import(${file}); });`;
  return new Worker(boot, { eval: true, workerData, execArgv });
}
