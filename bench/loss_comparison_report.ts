/**
 * The loss comparison's outputs, rendered from the JSONL of finished runs only (so an interrupted
 * bench, or `--report-only`, gives the same tables): the choice of s per loss on validation
 * accuracy, the main table on the test identities, the grid, the paper's angle statistics, and
 * the angle distributions of test pairs as SVG small multiples.
 */
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import type { AngleStatistics } from '../src/eval/angles.js';
import { lineChart, svgDoc, text } from '../src/plot/svg.js';

export interface LossRow {
  label: string;
  /** The paper's LFW accuracy (CASIA, ResNet50), Table 2. */
  paper: number;
  /** No scale s to choose (plain Softmax). */
  unscaled: boolean;
}

/** One finished (setting, loss, s, seed) run: one line of the JSONL. */
export interface RunRecord {
  key: string;
  setting: string;
  loss: string;
  s: number | null;
  seed: number;
  steps: number;
  batch: number;
  lr: number;
  valAccuracy: number;
  valStd: number;
  testAccuracy: number;
  testStd: number;
  finalLoss: number;
  /** Wall seconds of the run: training, then embedding every crop and scoring (trainSeconds of it training). */
  seconds: number;
  trainSeconds: number;
  angles: AngleStatistics;
  /** Test pairs: mean angle (degrees) and 1-degree histograms over 0..180 of genuine and impostor pairs. */
  pairs: { genuineMean: number; impostorMean: number; genuine: number[]; impostor: number[] };
  /** Identities and crops of each side of the split, and the backbone's size: the report needs no data. */
  split: { train: [number, number]; val: [number, number]; test: [number, number] };
  params: number;
  date: string;
}

/** The settings that make a run the same run: everything but the loss, s and seed. */
export interface BenchConfig {
  setting: string;
  steps: number;
  batch: number;
  lr: number;
  splitTag: string;
}

export function runKey(c: BenchConfig, loss: string, s: number | null, seed: number): string {
  return `${c.setting}|${loss}|s=${s ?? '-'}|seed=${seed}|steps=${c.steps}|batch=${c.batch}|lr=${c.lr}|split=${c.splitTag}`;
}

export function readRecords(path: string): RunRecord[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l, i) => {
      try {
        return JSON.parse(l) as RunRecord;
      } catch (err) {
        throw new Error(`${path}:${i + 1}: not JSON (${(err as Error).message})`);
      }
    });
}

export function appendRecord(path: string, r: RunRecord): void {
  appendFileSync(path, JSON.stringify(r) + '\n');
}

export const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
export const sd = (v: number[]) => {
  if (v.length < 2) return 0;
  const m = mean(v);
  return Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / (v.length - 1));
};

/**
 * The s chosen for a loss: best validation accuracy of seed 1 over the grid (ties: the first in
 * grid order). `complete` is false while some grid run is missing (the choice may still change).
 */
export function chooseScale(
  byKey: Map<string, RunRecord>,
  c: BenchConfig,
  row: LossRow,
  scales: readonly number[],
): { s: number | null; complete: boolean } | null {
  if (row.unscaled) return { s: null, complete: true };
  let best: RunRecord | null = null;
  let have = 0;
  for (const s of scales) {
    const r = byKey.get(runKey(c, row.label, s, 1));
    if (!r) continue;
    have++;
    if (!best || r.valAccuracy > best.valAccuracy) best = r;
  }
  return best ? { s: best.s, complete: have === scales.length } : null;
}

const pct = (v: number) => (v * 100).toFixed(2);
const deg = (v: number) => v.toFixed(1);

/** The network a fine-tune starts from, scored as is on the same validation and test pairs. */
export interface Baseline {
  label: string;
  valAccuracy: number;
  testAccuracy: number;
  genuineMean: number;
  impostorMean: number;
}

export interface ReportInput {
  config: BenchConfig;
  rows: LossRow[];
  scales: readonly number[];
  seeds: readonly number[];
  records: RunRecord[];
  command: string;
  settingText: string[];
  svgName: string;
  /** Wall-clock minutes of the session that wrote the report, when it trained. */
  wallMinutes?: number;
  /** The starting network scored on the same pairs without training (setting b). */
  baseline?: Baseline;
  parallel?: number;
}

export function renderMarkdown(o: ReportInput): string {
  const byKey = new Map(o.records.map((r) => [r.key, r]));
  // Only the runs of this configuration (other steps, lr or split tags may share the file).
  const mine = o.records.filter((r) => r.key === runKey(o.config, r.loss, r.s, r.seed));
  const cpuMin = mine.reduce((a, r) => a + r.seconds, 0) / 60;
  const sp = mine[0]?.split;
  const lines: string[] = [
    `# Loss comparison (paper Table 2), setting: ${o.config.setting}`,
    '',
    `${new Date().toISOString().slice(0, 10)}: \`${o.command}\``,
    `(${mine.length} runs, ${cpuMin.toFixed(0)} min of run time summed over runs` +
      (o.wallMinutes !== undefined
        ? `; this session ${o.wallMinutes.toFixed(0)} min wall, ${o.parallel} processes`
        : '') +
      '). Runs are appended to the JSONL beside this file; the tables are rendered from it.',
    '',
    ...o.settingText,
    sp
      ? `Identity split (seed fixed, the same for every run): train ${sp.train[0]} identities / ${sp.train[1]} crops, ` +
        `validation ${sp.val[0]} / ${sp.val[1]} (used only to choose s), test ${sp.test[0]} / ${sp.test[1]} (reported). ` +
        `Accuracy: 10-fold verification on pairs of those identities (up to 20 same pairs per identity and as many different).`
      : '',
    `The scale s of every normalised loss (all rows but Softmax) is chosen per loss from {${o.scales.join(', ')}} ` +
      `by the validation accuracy of seed 1; seeds ${o.seeds.filter((s) => s !== 1).join(', ')} then run at that s only.`,
    '',
    '## Test accuracy at the chosen s',
    '',
    `| loss | s (chosen on validation) | test accuracy % (mean ± sd over seeds) | per seed | paper: LFW % (CASIA, ResNet50) |`,
    '| --- | ---: | ---: | --- | ---: |',
  ];
  const chosen = new Map<string, { s: number | null; complete: boolean } | null>();
  for (const row of o.rows) {
    const c = chooseScale(byKey, o.config, row, o.scales);
    chosen.set(row.label, c);
    const rs = c
      ? o.seeds
          .map((seed) => byKey.get(runKey(o.config, row.label, c.s, seed)))
          .filter((r) => r !== undefined)
      : [];
    const acc = rs.map((r) => r.testAccuracy * 100);
    const sCell = !c ? 'pending' : c.s === null ? '-' : `${c.s}${c.complete ? '' : ' (grid incomplete)'}`;
    lines.push(
      `| ${row.label} | ${sCell} | ${acc.length ? `${mean(acc).toFixed(2)} ± ${sd(acc).toFixed(2)}` : 'pending'}` +
        `${acc.length && acc.length < o.seeds.length ? ` (${acc.length} of ${o.seeds.length} seeds)` : ''} | ` +
        `${rs.map((r) => `${r.seed}: ${pct(r.testAccuracy)}`).join(', ')} | ${row.paper.toFixed(2)} |`,
    );
  }
  if (o.baseline)
    lines.push(
      `| *${o.baseline.label}* | - | ${pct(o.baseline.testAccuracy)} | (validation ${pct(o.baseline.valAccuracy)}; ` +
        `genuine / impostor test pairs at ${deg(o.baseline.genuineMean)} / ${deg(o.baseline.impostorMean)} degrees) | |`,
    );
  lines.push(
    '',
    '## Choosing s: validation accuracy % of seed 1 per scale',
    '',
    `| loss | ${o.scales.map((s) => `s = ${s}`).join(' | ')} | chosen |`,
    `| --- | ${o.scales.map(() => '---:').join(' | ')} | ---: |`,
  );
  for (const row of o.rows) {
    if (row.unscaled) {
      const r = byKey.get(runKey(o.config, row.label, null, 1));
      lines.push(
        `| ${row.label} | ${o.scales.map(() => '').join(' | ')} | no s${r ? ` (validation ${pct(r.valAccuracy)})` : ''} |`,
      );
      continue;
    }
    const c = chosen.get(row.label);
    const cells = o.scales.map((s) => {
      const r = byKey.get(runKey(o.config, row.label, s, 1));
      if (!r) return 'pending';
      return s === c?.s ? `**${pct(r.valAccuracy)}**` : pct(r.valAccuracy);
    });
    lines.push(`| ${row.label} | ${cells.join(' | ')} | ${c ? c.s : 'pending'} |`);
  }
  lines.push(
    '',
    '## Angle statistics (degrees, mean over seeds at the chosen s)',
    '',
    "As the paper's table of angle statistics: W-EC, the angle between each class weight W_j and the centre of its",
    "class's features; W-Inter, the smallest angle between W_j and another class weight; Intra, the angle between a",
    'feature and its class centre (identities with 2+ crops); Inter, the smallest angle between a class centre and another',
    "class's centre; 1 on the training identities, 2 on the test identities. Features are L2-normalised, a centre is the",
    'normalised mean of its features; for Softmax W is the FC weight (its bias aside). The last two columns are the mean',
    'angles of the genuine and impostor test pairs.',
    '',
    '| loss | s | W-EC | W-Inter | Intra1 | Inter1 | Intra2 | Inter2 | genuine pairs | impostor pairs |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  );
  for (const row of o.rows) {
    const c = chosen.get(row.label);
    const rs = c
      ? o.seeds
          .map((seed) => byKey.get(runKey(o.config, row.label, c.s, seed)))
          .filter((r) => r !== undefined)
      : [];
    if (!rs.length) {
      lines.push(`| ${row.label} | | pending | | | | | | | |`);
      continue;
    }
    const m = (f: (r: RunRecord) => number) => deg(mean(rs.map(f)));
    lines.push(
      `| ${row.label} | ${c!.s ?? '-'} | ${m((r) => r.angles.wEc)} | ${m((r) => r.angles.wInter)} | ` +
        `${m((r) => r.angles.intra1)} | ${m((r) => r.angles.inter1)} | ${m((r) => r.angles.intra2)} | ` +
        `${m((r) => r.angles.inter2)} | ${m((r) => r.pairs.genuineMean)} | ${m((r) => r.pairs.impostorMean)} |`,
    );
  }
  lines.push(
    '',
    `## Angle distributions of test pairs`,
    '',
    `[${o.svgName}](${o.svgName}): for each loss at its chosen s (seed 1), the share of genuine and impostor test pairs`,
    "per 2-degree bin of the angle between their embeddings (the paper's figure of angle distributions).",
    '',
  );
  return lines.filter((l, i, a) => !(l === '' && a[i - 1] === '')).join('\n');
}

/** Small multiples: one histogram panel per loss at its chosen s, seed 1, on shared axes. */
export function renderAnglesSvg(o: ReportInput): string | null {
  const byKey = new Map(o.records.map((r) => [r.key, r]));
  const panels: { title: string; r: RunRecord }[] = [];
  for (const row of o.rows) {
    const c = chooseScale(byKey, o.config, row, o.scales);
    const r = c && byKey.get(runKey(o.config, row.label, c.s, 1));
    if (r)
      panels.push({
        title: `${row.label}${c.s === null ? '' : `, s ${c.s}`}: test ${pct(r.testAccuracy)}%`,
        r,
      });
  }
  if (!panels.length) return null;
  const BIN = 2;
  const share = (h: number[]) => {
    const n = h.reduce((a, b) => a + b, 0) || 1;
    const out: number[] = [];
    for (let b = 0; b < h.length; b += BIN)
      out.push((h.slice(b, b + BIN).reduce((a, x) => a + x, 0) / n) * 100);
    return out;
  };
  const used = panels.flatMap(({ r }) =>
    [...r.pairs.genuine, ...r.pairs.impostor].map((c, i) => (c > 0 ? i % 180 : -1)).filter((i) => i >= 0),
  );
  const lo = Math.floor(Math.min(...used) / 10) * 10;
  const hi = Math.min(180, Math.ceil((Math.max(...used) + 1) / 10) * 10);
  const series = panels.map(({ r }) => ({ g: share(r.pairs.genuine), i: share(r.pairs.impostor) }));
  const top = Math.max(...series.flatMap((s) => [...s.g, ...s.i])) * 1.05;
  const stepLine = (v: number[]) => {
    const x: number[] = [];
    const y: number[] = [];
    v.forEach((val, b) => {
      const a = b * BIN;
      if (a + BIN <= lo || a >= hi) return;
      x.push(a, a + BIN);
      y.push(val, val);
    });
    return { x, y };
  };
  const PW = 560;
  const PH = 260;
  const COLS = 2;
  const TITLE = 40;
  const body: string[] = [
    text(
      (PW * COLS) / 2,
      26,
      `Angles between embeddings of test pairs (${o.config.setting}, seed 1, chosen s)`,
      'text-anchor="middle" font-size="17" font-weight="bold"',
    ),
  ];
  panels.forEach(({ title, r }, k) => {
    const s = series[k]!;
    const chart = lineChart({
      title,
      xLabel: 'angle (degrees)',
      yLabel: '% of pairs',
      series: [
        { name: `genuine, mean ${deg(r.pairs.genuineMean)}°`, ...stepLine(s.g), color: '#2ca02c' },
        { name: `impostor, mean ${deg(r.pairs.impostorMean)}°`, ...stepLine(s.i), color: '#d62728' },
      ],
      xRange: [lo, hi],
      yRange: [0, top],
      width: PW,
      height: PH,
    });
    const x = (k % COLS) * PW;
    const y = TITLE + Math.floor(k / COLS) * PH;
    // Nest each chart as its own <svg> viewport; clip ids made unique across panels.
    body.push(
      chart
        .replace(/<svg xmlns="[^"]*" /, `<svg x="${x}" y="${y}" `)
        .replace(/id="plot"/g, `id="plot${k}"`)
        .replace(/url\(#plot\)/g, `url(#plot${k})`)
        .trimEnd(),
    );
  });
  return svgDoc(
    PW * COLS,
    TITLE + Math.ceil(panels.length / COLS) * PH,
    body,
    'Loss comparison: angle distributions',
  );
}
