import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { initRuntime } from '../../runtime/backend.js';
import { targetLogitCurves } from '../../curves/target_logit.js';
import { targetCurvesSvg } from '../../plot/curves.js';
import { UsageError, parseNumber, type Command } from '../command.js';

export const curvesCommand: Command = {
  name: 'curves',
  summary: 'target logit vs theta for Softmax, SphereFace, CosFace, ArcFace, CM1, CM2 (paper Fig. 4b)',
  usage: `arcface curves [-o FILE.svg] [--json] [--points N]

  -o, --out FILE   write the SVG plot to FILE (default: target-logit-curves.svg unless --json)
  --json           print {"theta": [...radians], "curves": {"softmax": [...], ...}} to stdout
  --points N       number of angles from 0 to 180 degrees (default 181)`,
  async run(argv) {
    const { values } = parseArgs({
      args: argv,
      options: { out: { type: 'string', short: 'o' }, json: { type: 'boolean' }, points: { type: 'string' } },
      strict: true,
    });
    const points =
      parseNumber(values.points, 'points', (v) => Number.isInteger(v) && v >= 2 && v <= 100000) ?? 181;
    await initRuntime();
    const curves = targetLogitCurves(points);
    const out = values.out ?? (values.json ? undefined : 'target-logit-curves.svg');
    if (out !== undefined) {
      if (!out.endsWith('.svg')) throw new UsageError('--out must name an .svg file');
      writeFileSync(out, targetCurvesSvg(curves));
    }
    if (values.json) {
      process.stdout.write(JSON.stringify({ theta: curves.theta, curves: curves.curves }) + '\n');
    } else {
      const at = (deg: number) => Math.round((deg / 180) * (points - 1));
      const rows = [0, 30, 60, 90, 120, 150, 180].map((d) => {
        const i = at(d);
        return `${String(d).padStart(5)}°  ${Object.values(curves.curves)
          .map((c) => c[i].toFixed(3).padStart(11))
          .join('')}`;
      });
      process.stdout.write(
        `target logit (unscaled) at theta:\n     θ  ${Object.keys(curves.curves)
          .map((k) => k.padStart(11))
          .join('')}\n${rows.join('\n')}\nwrote ${out}\n`,
      );
    }
    return 0;
  },
};
