/** `arcface ARGS` run in this process (no child: no second model load), with its output captured. */
import { main } from '../src/cli/main.js';

/** Runs `fn` with the process's text output captured (the test runner's own bytes pass through). */
export async function captured<T>(fn: () => Promise<T>): Promise<{ value: T; out: string; err: string }> {
  const got = { out: '', err: '' };
  const outWrite = process.stdout.write.bind(process.stdout);
  const errWrite = process.stderr.write.bind(process.stderr);
  const capture =
    (key: 'out' | 'err', pass: typeof outWrite) =>
    (chunk: unknown, ...rest: unknown[]): boolean => {
      if (typeof chunk !== 'string') return (pass as (...a: unknown[]) => boolean)(chunk, ...rest);
      got[key] += chunk;
      return true;
    };
  process.stdout.write = capture('out', outWrite) as typeof process.stdout.write;
  process.stderr.write = capture('err', errWrite) as typeof process.stderr.write;
  try {
    return { value: await fn(), ...got };
  } finally {
    process.stdout.write = outWrite;
    process.stderr.write = errWrite;
  }
}

/** `arcface ARGS` in this process: its exit status and what it printed. */
export async function arcface(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const { value: code, out, err } = await captured(() => main(args));
  return { code, out, err };
}
