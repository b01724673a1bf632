/** The shape every `arcface <command>` has; main.ts dispatches on `name`. */
export interface Command {
  name: string;
  summary: string;
  usage: string;
  /** Returns the process exit code: 0 success, 1 a negative answer, 2 bad input (verify: 3 no face). */
  run(argv: string[]): Promise<number>;
}

/** A bad command line: main.ts prints it with the command's usage and exits 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export function parseNumber(
  value: string | undefined,
  name: string,
  check?: (v: number) => boolean,
): number | undefined {
  if (value === undefined) return undefined;
  const v = Number(value);
  if (!Number.isFinite(v) || (check && !check(v)))
    throw new UsageError(`bad value for --${name}: "${value}"`);
  return v;
}
