/**
 * The trainer's random stream: mulberry32 (as src/util/random.ts) with its 32-bit state exposed,
 * so a checkpoint can store it and a resumed run draws the same numbers (dropout seeds) as a run
 * that never stopped.
 */
export class TrainRng {
  private a: number;

  constructor(seed: number) {
    this.a = seed >>> 0;
  }

  /** A uint32, e.g. the seed of one micro-batch's dropout masks. */
  nextUint32(): number {
    this.a = (this.a + 0x6d2b79f5) >>> 0;
    let t = this.a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  get state(): number {
    return this.a;
  }

  set state(s: number) {
    this.a = s >>> 0;
  }
}
