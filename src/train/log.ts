/** RUN/log.jsonl: one JSON object per line (a step's loss and lr, a validation, a resume). */
import { appendFileSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';

export type LogEntry =
  | {
      type: 'step';
      step: number;
      epoch: number;
      loss: number;
      lr: number;
      gradNorm: number;
      samplesPerSec: number;
      time: string;
    }
  | { type: 'val'; step: number; epoch: number; accuracy: number; std: number; time: string }
  | { type: 'resume'; step: number; checkpoint: string; time: string }
  | { type: 'stop'; step: number; reason: 'done' | 'signal' | 'error'; message?: string; time: string };

export function appendLog(path: string, entry: LogEntry): void {
  appendFileSync(path, JSON.stringify(entry) + '\n');
}

export function readLog(path: string): LogEntry[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as LogEntry);
}

/**
 * On resume from step k, drops the step and val lines after k (work the checkpoint does not
 * hold, about to be redone), so the log reads as one run. Rewritten through a temp file.
 */
export function truncateLogAfter(path: string, step: number): void {
  if (!existsSync(path)) return;
  const keep = readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => {
      if (l.trim() === '') return false;
      try {
        const e = JSON.parse(l) as LogEntry;
        return e.step <= step;
      } catch {
        return false; // a line cut short by a kill
      }
    });
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, keep.map((l) => l + '\n').join(''));
  renameSync(tmp, path);
}
