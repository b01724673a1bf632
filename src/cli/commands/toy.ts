import { existsSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { initRuntime } from '../../runtime/backend.js';
import { runToy } from '../../toy/experiment.js';
import { circlePanelsSvg } from '../../plot/circle.js';
import { Progress } from '../progress.js';
import { UsageError, parseNumber, type Command } from '../command.js';

/** ORL faces: --orl, else $ARCFACE_ORL_DIR, else the development checkout's ../shared copy. */
function findOrl(flag: string | undefined): string | null {
  if (flag) {
    if (!existsSync(flag)) throw new UsageError(`--orl ${flag}: no such folder`);
    return flag;
  }
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [
    process.env.ARCFACE_ORL_DIR,
    resolve('../shared/data/faces/orl'),
    join(here, '../../../../shared/data/faces/orl'),
  ];
  return candidates.find((c) => c && existsSync(join(c, 's1'))) ?? null;
}

export const toyCommand: Command = {
  name: 'toy',
  summary: "the paper's toy experiment: 8 identities, 2-D features, Softmax vs ArcFace (Fig. 3)",
  usage: `arcface toy [-o FILE.svg] [--json] [--orl DIR] [--steps N] [--seed N] [--margin M] [--scale S]

  Trains one small CNN with 2-D features twice from the same initial weights and batches, with
  the Softmax loss and with ArcFace, and plots the L2-normalised features of every photo and of
  10 augmented views of it on the unit circle. Uses the ORL faces (8 people) when found, else a
  generated set.

  -o, --out FILE   SVG of both feature circles (default: toy.svg)
  --json           print {"softmax": {"minGapDeg": ...}, "arcface": {...}, ...}
  --orl DIR        ORL faces folder (default: $ARCFACE_ORL_DIR or ../shared/data/faces/orl)
  --synthetic      use the generated set even if ORL is found
  --steps N        training steps per loss (default 600)
  --seed N         seed of weights, batches and augmentation (default 1)
  --margin M       ArcFace margin in radians (default 0.5)
  --scale S        ArcFace feature scale s (default 16)
  --views N        augmented views per photo in the plot (default 10)`,
  async run(argv) {
    const { values } = parseArgs({
      args: argv,
      options: {
        out: { type: 'string', short: 'o' },
        json: { type: 'boolean' },
        orl: { type: 'string' },
        synthetic: { type: 'boolean' },
        steps: { type: 'string' },
        seed: { type: 'string' },
        margin: { type: 'string' },
        scale: { type: 'string' },
        views: { type: 'string' },
      },
      strict: true,
    });
    const out = values.out ?? 'toy.svg';
    if (!out.endsWith('.svg')) throw new UsageError('--out must name an .svg file');
    const steps = parseNumber(values.steps, 'steps', (v) => Number.isInteger(v) && v > 0 && v <= 1e6);
    const seed = parseNumber(values.seed, 'seed', Number.isInteger);
    const margin = parseNumber(values.margin, 'margin', (v) => v >= 0 && v < Math.PI);
    const scale = parseNumber(values.scale, 'scale', (v) => v > 0);
    const views = parseNumber(values.views, 'views', (v) => Number.isInteger(v) && v >= 0 && v <= 100);
    const orlDir = values.synthetic ? null : findOrl(values.orl);
    const info = await initRuntime();
    const bars: Record<string, Progress> = {};
    const result = runToy({
      orlDir,
      steps,
      seed,
      margin,
      scale,
      views,
      onStep: (run, step, n, loss) => {
        bars[run] ??= new Progress({ label: `toy ${run.padEnd(7)}`, total: n, unit: 'step' });
        bars[run].tick(1, `loss ${loss.toFixed(3)}`);
        if (step === n) bars[run].finish();
      },
    });
    const panel = (name: string, r: typeof result.softmax) => ({
      title: name,
      subtitle: `min gap between classes ${r.minGapDeg.toFixed(1)}°, accuracy ${(r.accuracy * 100).toFixed(1)}%`,
      features: r.features,
      labels: r.labels,
      centres: r.centres,
    });
    writeFileSync(
      out,
      circlePanelsSvg(
        [panel('Softmax', result.softmax), panel(`ArcFace (m = ${margin ?? 0.5})`, result.arcface)],
        result.identities,
        `Toy: ${result.identities.length} identities (${result.source === 'orl' ? 'ORL faces' : 'generated'}), 2-D normalised features`,
      ),
    );
    const summary = (r: typeof result.softmax) => ({
      minGapDeg: r.minGapDeg,
      accuracy: r.accuracy,
      finalLoss: r.finalLoss,
      maxClassSpreadDeg: r.maxClassSpreadDeg,
      loss: r.loss,
    });
    if (values.json) {
      process.stdout.write(
        JSON.stringify({
          softmax: summary(result.softmax),
          arcface: summary(result.arcface),
          data: { source: result.source, identities: result.identities.length, images: result.images },
          steps: result.steps,
          backend: info.backend,
          svg: out,
        }) + '\n',
      );
    } else {
      const line = (name: string, r: typeof result.softmax) =>
        `${name.padEnd(8)} min inter-class gap ${r.minGapDeg.toFixed(2).padStart(6)}°  widest class ${r.maxClassSpreadDeg.toFixed(1).padStart(5)}°  accuracy ${(r.accuracy * 100).toFixed(1)}%`;
      process.stdout.write(
        `data: ${result.source === 'orl' ? `ORL faces (${orlDir})` : 'generated identities'}, ${result.identities.length} identities, ${result.images} images\n` +
          `${line('softmax', result.softmax)}\n${line('arcface', result.arcface)}\nwrote ${out}\n`,
      );
    }
    return 0;
  },
};
