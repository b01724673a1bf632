/**
 * A progress line for long work: bar, count, rate, ETA and a free-form status. On a terminal it
 * redraws one line; elsewhere (CI, pipes) it prints a plain line every few seconds.
 */
export interface ProgressOptions {
  label: string;
  total: number;
  unit?: string;
  stream?: NodeJS.WriteStream;
  /** Silence it (e.g. under --json when stderr is not wanted). */
  quiet?: boolean;
  /** When the work began (ms epoch), if before the bar was made: the rate counts from it. */
  startedAt?: number;
}

function clock(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--:--';
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  const mm = String(m).padStart(2, '0');
  const ss = String(r).padStart(2, '0');
  return h > 0 ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

export class Progress {
  private done = 0;
  private readonly start: number;
  private lastDraw = 0;
  private status = '';
  private readonly stream: NodeJS.WriteStream;
  private readonly tty: boolean;

  constructor(private readonly opts: ProgressOptions) {
    this.start = opts.startedAt ?? Date.now();
    this.stream = opts.stream ?? process.stderr;
    this.tty = Boolean(this.stream.isTTY);
  }

  tick(n = 1, status?: string): void {
    this.done += n;
    if (status !== undefined) this.status = status;
    const now = Date.now();
    const every = this.tty ? 100 : 5000;
    if (now - this.lastDraw >= every || this.done >= this.opts.total) {
      this.lastDraw = now;
      this.draw();
    }
  }

  line(): string {
    const { total, label } = this.opts;
    const unit = this.opts.unit ?? 'it';
    const elapsed = (Date.now() - this.start) / 1000;
    const rate = elapsed > 0 ? this.done / elapsed : 0;
    const eta = rate > 0 ? (total - this.done) / rate : Infinity;
    const frac = total > 0 ? Math.min(1, this.done / total) : 1;
    const width = 24;
    const full = Math.round(frac * width);
    const bar = '#'.repeat(full) + '-'.repeat(width - full);
    const pct = `${Math.floor(frac * 100)}%`.padStart(4);
    return `${label} [${bar}] ${pct} ${this.done}/${total} ${rate.toFixed(1)} ${unit}/s ETA ${clock(eta)}${this.status ? ' ' + this.status : ''}`;
  }

  private draw(): void {
    if (this.opts.quiet) return;
    if (this.tty) this.stream.write(`\r${this.line()}\x1b[K`);
    else this.stream.write(`${this.line()}\n`);
  }

  finish(status?: string): void {
    if (status !== undefined) this.status = status;
    if (this.opts.quiet) return;
    if (this.tty) this.stream.write(`\r${this.line()}\x1b[K\n`);
    else this.stream.write(`${this.line()}\n`);
  }
}
