/**
 * SIGTERM and SIGINT reach a running `train()` even when every batch is already prefetched (the
 * loop never waits on I/O): the step in flight finishes, a checkpoint is written, and the run
 * returns { stopped: 'signal' } — the behaviour `arcface train` promises for Ctrl-C.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readCheckpoint } from '../src/train/checkpoint.js';

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(`${signal} stops a busy training loop with a checkpoint`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'arcface-signal-'));
    try {
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', join(import.meta.dirname, 'train_signal_child.ts'), join(dir, 'run')],
        {
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let out = '';
      let err = '';
      let sent = false;
      child.stderr.on('data', (d) => (err += d));
      const exit = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
      child.stdout.on('data', (d) => {
        out += d;
        if (!sent && out.includes('step 3\n')) {
          sent = true;
          child.kill(signal);
        }
      });
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      const code = await exit;
      clearTimeout(timer);
      assert.ok(sent, `the child never reached step 3: ${err}`);
      assert.equal(code, 0, `exit ${code}: ${err}`);
      const last = out.trim().split('\n').pop()!;
      const result = JSON.parse(last) as { stopped: string; step: number; checkpoint: string };
      assert.equal(result.stopped, 'signal');
      // The signal lands within a step or two of step 3, not a million steps later.
      assert.ok(result.step >= 3 && result.step < 50, `stopped at step ${result.step}`);
      assert.ok(existsSync(result.checkpoint));
      assert.equal(readCheckpoint(result.checkpoint).index.step, result.step);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
