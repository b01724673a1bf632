/**
 * ROC and angle-distribution plots: well-formed SVG that librsvg (through sharp) renders, with
 * the expected series, marks and threshold; writePlot's SVG and PNG outputs and its errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { rocCurve } from '../src/eval/roc.js';
import { rocSvg } from '../src/plot/roc.js';
import { angleDeg, angleDistributionSvg } from '../src/plot/angles.js';
import { writePlot } from '../src/plot/png.js';
import { gaussian, rng } from '../src/util/random.js';

const tmp = mkdtempSync(join(tmpdir(), 'arcface-plots-'));

function scores(seed: number, n: number, gap: number) {
  const r = rng(seed);
  const same = Array.from({ length: n }, (_, i) => i % 2 === 0);
  return { same, scores: same.map((s) => 0.15 * gaussian(r) + (s ? gap : 0)) };
}

/** Tags balance and attributes are quoted: enough to catch broken markup without an XML parser. */
function assertWellFormed(svg: string): void {
  const stack: string[] = [];
  for (const m of svg.matchAll(/<(\/?)([a-zA-Z]+)((?:\s+[\w:-]+="[^"]*")*)\s*(\/?)>/g)) {
    if (m[1]) assert.equal(stack.pop(), m[2], `closing </${m[2]}>`);
    else if (!m[4]) stack.push(m[2]);
  }
  assert.deepEqual(stack, []);
  assert.equal(svg.replace(/<[^>]*>/g, '').match(/[<>]/), null, 'no stray < or >');
}

async function renders(svg: string): Promise<{ width?: number; height?: number }> {
  const meta = await sharp(Buffer.from(svg)).metadata();
  assert.equal(meta.format, 'svg');
  return meta;
}

test('rocSvg: one polyline per curve, a mark per reported FAR, log axis from 1e-3 for 1000 impostors', async () => {
  const a = scores(1, 2000, 0.6);
  const b = scores(2, 2000, 0.3);
  const svg = rocSvg(
    [
      { name: 'model <A>', roc: rocCurve(a.scores, a.same) },
      { name: 'model B', roc: rocCurve(b.scores, b.same) },
    ],
    { title: 'LFW' },
  );
  assertWellFormed(svg);
  assert.equal((svg.match(/<polyline class="roc"/g) ?? []).length, 2);
  assert.match(svg, /data-name="model &lt;A&gt;"/);
  // 1000 impostors: the axis starts at 1e-3, so the 1e-4 mark is left out.
  assert.equal((svg.match(/<circle class="mark"/g) ?? []).length, 2 * 3);
  assert.match(svg, />1e-3</);
  assert.doesNotMatch(svg, />1e-4</);
  assert.match(svg, /TAR@1e-2: /);
  const meta = await renders(svg);
  assert.deepEqual([meta.width, meta.height], [760, 520]);
  // Every polyline point lies inside the plot area.
  for (const m of svg.matchAll(/points="([^"]*)"/g))
    for (const p of m[1].split(' ')) {
      const [x, y] = p.split(',').map(Number);
      assert.ok(x >= 63.99 && x <= 760 - 230 + 0.01 && y >= 39.99 && y <= 520 - 52 + 0.01, p);
    }
});

test('angleDistributionSvg: genuine and impostor histograms in degrees, threshold line', async () => {
  const genuine = [1, 0.9, 0.8, 0.5];
  const impostor = [0.1, 0, -0.2, 0.05, 0.12];
  assert.equal(angleDeg(0), 90);
  assert.equal(angleDeg(1.0000001), 0);
  const svg = angleDistributionSvg({ genuine, impostor }, { threshold: 0.5, binDeg: 5 });
  assertWellFormed(svg);
  assert.match(svg, /genuine \(4\)/);
  assert.match(svg, /impostor \(5\)/);
  assert.match(svg, /threshold 60\.0°/);
  assert.equal((svg.match(/<polyline/g) ?? []).length, 3);
  await renders(svg);
  assert.throws(() => angleDistributionSvg({ genuine: [NaN], impostor: [] }), /genuine\[0\] is NaN/);
});

test('writePlot: .svg as text, .png rasterised by sharp, other extensions refused', async () => {
  const a = scores(3, 400, 0.5);
  const svg = rocSvg([{ name: 'a', roc: rocCurve(a.scores, a.same) }]);
  await writePlot(join(tmp, 'roc.svg'), svg);
  assert.equal(readFileSync(join(tmp, 'roc.svg'), 'utf8'), svg);
  await writePlot(join(tmp, 'roc.PNG'), svg);
  const meta = await sharp(readFileSync(join(tmp, 'roc.PNG'))).metadata();
  assert.deepEqual([meta.format, meta.width, meta.height], ['png', 760, 520]);
  await assert.rejects(
    writePlot(join(tmp, 'roc.jpg'), svg),
    /roc\.jpg: plots are written as \.svg or \.png, not '\.jpg'/,
  );
  await assert.rejects(writePlot(join(tmp, 'roc.png'), '<svg'), /roc\.png: cannot rasterise/);
});
