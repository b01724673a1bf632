/**
 * ROC curves as TAR against FAR on a log FAR axis (as in the ArcFace paper's IJB-B/C figures),
 * from 1e-5 (or the smallest FAR the data can show, 1 / impostor pairs, when that is larger) to
 * 1, with a marker and the TAR value at each reported FAR. Drawn here rather than with
 * lineChart because the markers need the chart's coordinates.
 */
import { tarAtFar, type Roc } from '../eval/roc.js';
import { PALETTE, esc, num, svgDoc, text } from './svg.js';

export interface RocSvgOptions {
  title?: string;
  /** FARs to mark on each curve, default [1e-4, 1e-3, 1e-2, 1e-1] (those inside the axis). */
  fars?: number[];
  /** Left end of the FAR axis; default max(1e-5, smallest non-zero FAR of all curves). */
  minFar?: number;
  width?: number;
  height?: number;
}

/** Smallest non-zero FAR on a curve: 1 / number of impostor pairs. */
function smallestFar(roc: Roc): number {
  for (const f of roc.far) if (f > 0) return f;
  return 1;
}

export function rocSvg(curves: { name: string; roc: Roc }[], opts: RocSvgOptions = {}): string {
  const W = opts.width ?? 760;
  const H = opts.height ?? 520;
  const m = { l: 64, r: 230, t: 40, b: 52 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const title = opts.title ?? 'ROC';
  const floor = Math.min(...curves.map((c) => smallestFar(c.roc)), 1);
  const minFar = opts.minFar ?? Math.max(1e-5, floor);
  const lo = Math.log10(minFar);
  const px = (far: number) => m.l + ((Math.log10(far) - lo) / (0 - lo || 1)) * pw;
  const py = (tar: number) => m.t + (1 - tar) * ph;
  const body: string[] = [];
  body.push(text(m.l + pw / 2, 24, title, 'text-anchor="middle" font-size="16" font-weight="bold"'));
  for (let e = Math.ceil(lo); e <= 0; e++) {
    const x = px(10 ** e);
    body.push(`<line x1="${num(x)}" y1="${m.t}" x2="${num(x)}" y2="${m.t + ph}" stroke="#e5e5e5"/>`);
    body.push(text(x, m.t + ph + 18, `1e${e}`, 'text-anchor="middle" fill="#444"'));
  }
  for (let k = 0; k <= 10; k += 2) {
    const y = py(k / 10);
    body.push(`<line x1="${m.l}" y1="${num(y)}" x2="${m.l + pw}" y2="${num(y)}" stroke="#e5e5e5"/>`);
    body.push(text(m.l - 8, y + 4, (k / 10).toFixed(1), 'text-anchor="end" fill="#444"'));
  }
  body.push(`<rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}" fill="none" stroke="#888"/>`);
  body.push(text(m.l + pw / 2, H - 12, 'False accept rate (log scale)', 'text-anchor="middle"'));
  body.push(
    text(
      16,
      m.t + ph / 2,
      'True accept rate',
      `text-anchor="middle" transform="rotate(-90 16 ${num(m.t + ph / 2)})"`,
    ),
  );
  const marks = (opts.fars ?? [1e-4, 1e-3, 1e-2, 1e-1]).filter((f) => f >= minFar && f <= 1);
  curves.forEach((c, i) => {
    const color = PALETTE[i % PALETTE.length];
    const { far, tar } = c.roc;
    // The curve starts at the TAR reachable at minFar, then follows every point right of it;
    // points closer than 0.1 px to the last drawn one are skipped.
    const pts: [number, number][] = [[px(minFar), py(tarAtFar(c.roc, minFar).tar)]];
    for (let k = 0; k < far.length; k++) {
      if (far[k] <= minFar) continue;
      const p: [number, number] = [px(far[k]), py(tar[k])];
      const last = pts[pts.length - 1];
      if (k < far.length - 1 && Math.abs(p[0] - last[0]) < 0.1 && Math.abs(p[1] - last[1]) < 0.1) continue;
      pts.push(p);
    }
    body.push(
      `<polyline class="roc" data-name="${esc(c.name)}" fill="none" stroke="${color}" stroke-width="2" ` +
        `points="${pts.map(([x, y]) => `${num(x)},${num(y)}`).join(' ')}"/>`,
    );
    const legend: string[] = [];
    for (const f of marks) {
      const t = tarAtFar(c.roc, f).tar;
      body.push(
        `<circle class="mark" cx="${num(px(f))}" cy="${num(py(t))}" r="4" fill="#fff" stroke="${color}" stroke-width="2">` +
          `<title>${esc(`${c.name}: TAR ${t.toFixed(4)} at FAR ${f.toExponential()}`)}</title></circle>`,
      );
      legend.push(`${f.toExponential()}: ${t.toFixed(4)}`);
    }
    const ly = m.t + 12 + i * (22 + 15 * legend.length);
    const lx = m.l + pw + 14;
    body.push(`<line x1="${lx}" y1="${ly}" x2="${lx + 26}" y2="${ly}" stroke="${color}" stroke-width="2"/>`);
    body.push(text(lx + 32, ly + 4, c.name));
    legend.forEach((s, j) =>
      body.push(text(lx + 32, ly + 20 + 15 * j, `TAR@${s}`, 'font-size="11" fill="#444"')),
    );
  });
  return svgDoc(W, H, body, title);
}
