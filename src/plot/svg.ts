/** A tiny SVG writer: enough for line charts and scatter plots, no dependency, no DOM. */

export const PALETTE = [
  '#1f77b4',
  '#d62728',
  '#2ca02c',
  '#ff7f0e',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#17becf',
  '#7f7f7f',
  '#bcbd22',
];

export function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export function num(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toFixed(2);
}

export function svgDoc(width: number, height: number, body: string[], title?: string): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="13">`,
    title ? `<title>${esc(title)}</title>` : '',
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}

export function text(x: number, y: number, s: string, attrs = ''): string {
  return `<text x="${num(x)}" y="${num(y)}" ${attrs}>${esc(s)}</text>`;
}

export interface Series {
  name: string;
  x: number[];
  y: number[];
  color?: string;
  dash?: string;
}

export interface LineChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  width?: number;
  height?: number;
  xTicks?: number[];
  yTicks?: number[];
  xRange?: [number, number];
  yRange?: [number, number];
  /** Log10 x axis (ROC curves): values must be > 0. */
  logX?: boolean;
}

function niceTicks(lo: number, hi: number, count = 6): number[] {
  const span = hi - lo || 1;
  const raw = span / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((k) => k * mag).find((s) => span / s <= count) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9 * span; v += step)
    out.push(Number(v.toPrecision(12)));
  return out;
}

export function lineChart(o: LineChartOptions): string {
  const W = o.width ?? 760;
  const H = o.height ?? 480;
  const m = { l: 64, r: 210, t: 40, b: 52 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const tx = (v: number) => (o.logX ? Math.log10(v) : v);
  const allX = o.series.flatMap((s) => s.x.map(tx));
  const allY = o.series.flatMap((s) => s.y).filter(Number.isFinite);
  const [x0, x1] = o.xRange ? [tx(o.xRange[0]), tx(o.xRange[1])] : [Math.min(...allX), Math.max(...allX)];
  const [y0, y1] = o.yRange ?? [Math.min(...allY), Math.max(...allY)];
  const px = (v: number) => m.l + ((tx(v) - x0) / (x1 - x0 || 1)) * pw;
  const py = (v: number) => m.t + (1 - (v - y0) / (y1 - y0 || 1)) * ph;
  const body: string[] = [];
  body.push(text(W / 2 - m.r / 2, 24, o.title, 'text-anchor="middle" font-size="16" font-weight="bold"'));
  const xt =
    o.xTicks ??
    (o.logX
      ? niceTicks(x0, x1)
          .filter(Number.isInteger)
          .map((e) => 10 ** e)
      : niceTicks(x0, x1));
  const yt = o.yTicks ?? niceTicks(y0, y1);
  for (const v of xt) {
    const x = px(v);
    body.push(`<line x1="${num(x)}" y1="${m.t}" x2="${num(x)}" y2="${m.t + ph}" stroke="#e5e5e5"/>`);
    const label = o.logX ? `1e${Math.round(Math.log10(v))}` : num(v);
    body.push(text(x, m.t + ph + 18, label, 'text-anchor="middle" fill="#444"'));
  }
  for (const v of yt) {
    const y = py(v);
    body.push(`<line x1="${m.l}" y1="${num(y)}" x2="${m.l + pw}" y2="${num(y)}" stroke="#e5e5e5"/>`);
    body.push(text(m.l - 8, y + 4, num(v), 'text-anchor="end" fill="#444"'));
  }
  body.push(`<rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}" fill="none" stroke="#888"/>`);
  body.push(text(m.l + pw / 2, H - 12, o.xLabel, 'text-anchor="middle"'));
  body.push(
    text(16, m.t + ph / 2, o.yLabel, `text-anchor="middle" transform="rotate(-90 16 ${num(m.t + ph / 2)})"`),
  );
  body.push(`<clipPath id="plot"><rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}"/></clipPath>`);
  o.series.forEach((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length];
    const pts: string[] = [];
    for (let k = 0; k < s.x.length; k++) {
      if (Number.isFinite(s.y[k])) pts.push(`${num(px(s.x[k]))},${num(py(s.y[k]))}`);
    }
    const dash = s.dash ? ` stroke-dasharray="${s.dash}"` : '';
    body.push(
      `<polyline clip-path="url(#plot)" fill="none" stroke="${color}" stroke-width="2"${dash} points="${pts.join(' ')}"/>`,
    );
    const ly = m.t + 12 + i * 20;
    body.push(
      `<line x1="${m.l + pw + 14}" y1="${ly}" x2="${m.l + pw + 40}" y2="${ly}" stroke="${color}" stroke-width="2"${dash}/>`,
    );
    body.push(text(m.l + pw + 46, ly + 4, s.name));
  });
  return svgDoc(W, H, body, o.title);
}
