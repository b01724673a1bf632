/** Features on the unit circle, one panel per run, coloured by class (paper Fig. 3). */
import { PALETTE, esc, num, svgDoc, text } from './svg.js';

export interface CirclePanel {
  title: string;
  subtitle: string;
  /** Normalised 2-D features, interleaved x,y. */
  features: number[];
  labels: number[];
  /** Normalised class centres, interleaved x,y. */
  centres: number[];
}

export function circlePanelsSvg(panels: CirclePanel[], legend: string[], title: string): string {
  const size = 420;
  const R = 150;
  const W = size * panels.length;
  const H = size + 70;
  const body: string[] = [text(W / 2, 26, title, 'text-anchor="middle" font-size="16" font-weight="bold"')];
  panels.forEach((p, k) => {
    const cx = k * size + size / 2;
    const cy = 60 + size / 2 - 10;
    body.push(text(cx, 56, p.title, 'text-anchor="middle" font-size="15"'));
    body.push(text(cx, 74, p.subtitle, 'text-anchor="middle" fill="#444"'));
    body.push(`<circle cx="${cx}" cy="${num(cy)}" r="${R}" fill="none" stroke="#bbb"/>`);
    for (let c = 0; c < p.centres.length / 2; c++) {
      const color = PALETTE[c % PALETTE.length];
      const x = cx + (R + 28) * p.centres[2 * c];
      const y = cy - (R + 28) * p.centres[2 * c + 1];
      body.push(
        `<line x1="${cx}" y1="${num(cy)}" x2="${num(x)}" y2="${num(y)}" stroke="${color}" stroke-width="1.5" opacity="0.7"/>`,
      );
    }
    for (let i = 0; i < p.labels.length; i++) {
      const color = PALETTE[p.labels[i] % PALETTE.length];
      const x = cx + R * p.features[2 * i];
      const y = cy - R * p.features[2 * i + 1];
      body.push(
        `<circle cx="${num(x)}" cy="${num(y)}" r="4" fill="${color}" fill-opacity="0.75" stroke="#fff" stroke-width="0.5"/>`,
      );
    }
  });
  const ly = H - 18;
  const step = W / Math.max(1, legend.length);
  legend.forEach((name, c) => {
    const x = step * c + 12;
    body.push(`<circle cx="${num(x)}" cy="${ly - 4}" r="5" fill="${PALETTE[c % PALETTE.length]}"/>`);
    body.push(`<text x="${num(x + 9)}" y="${ly}" fill="#333">${esc(name)}</text>`);
  });
  return svgDoc(W, H, body, title);
}
