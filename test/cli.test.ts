import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const bin = join(import.meta.dirname, '../src/cli/bin.ts');
const tmp = mkdtempSync(join(tmpdir(), 'arcface-cli-'));

function arcface(...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', import.meta.resolve('tsx'), bin, ...args], {
    encoding: 'utf8',
    cwd: tmp,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('--version prints the package version; --help lists the commands', () => {
  const pkg = JSON.parse(readFileSync(join(import.meta.dirname, '../package.json'), 'utf8'));
  assert.deepEqual(arcface('--version'), { code: 0, out: `${pkg.version}\n`, err: '' });
  const help = arcface('--help');
  assert.equal(help.code, 0);
  assert.match(help.out, /toy/);
  assert.match(help.out, /curves/);
  assert.match(arcface('toy', '--help').out, /--orl DIR/);
});

test('unknown commands and bad options exit 2 with a message', () => {
  const a = arcface('frobnicate');
  assert.equal(a.code, 2);
  assert.match(a.err, /unknown command "frobnicate"/);
  const b = arcface('curves', '--points', 'x');
  assert.equal(b.code, 2);
  assert.match(b.err, /bad value for --points/);
  const c = arcface('toy', '--nope');
  assert.equal(c.code, 2);
  assert.match(c.err, /Unknown option/);
  assert.equal(arcface('curves', '-o', 'plot.png').code, 2);
});

test('curves --json: every curve equals its closed form, from the training code path', () => {
  const r = arcface('curves', '--json', '--points', '721', '-o', join(tmp, 'c.svg'));
  assert.equal(r.code, 0, r.err);
  const { theta, curves } = JSON.parse(r.out) as { theta: number[]; curves: Record<string, number[]> };
  assert.deepEqual(Object.keys(curves), ['softmax', 'sphereface', 'cosface', 'arcface', 'cm1', 'cm2']);
  assert.equal(theta.length, 721);
  assert.equal(theta[0], 0);
  assert.ok(Math.abs(theta[720] - Math.PI) < 1e-12);
  const close = (a: number, b: number) => Math.abs(a - b) < 2e-4;
  theta.forEach((t, i) => {
    assert.ok(close(curves.softmax[i], Math.cos(t)));
    assert.ok(close(curves.cosface[i], Math.cos(t) - 0.35));
    if (t + 0.5 < Math.PI - 1e-3) assert.ok(close(curves.arcface[i], Math.cos(t + 0.5)), `arcface at ${t}`);
    if (t + 0.3 < Math.PI - 1e-3) assert.ok(close(curves.cm1[i], Math.cos(t + 0.3) - 0.2), `cm1 at ${t}`);
    if (0.9 * t + 0.4 < Math.PI - 1e-3)
      assert.ok(close(curves.cm2[i], Math.cos(0.9 * t + 0.4) - 0.15), `cm2 at ${t}`);
    if (1.35 * t < Math.PI) assert.ok(close(curves.sphereface[i], Math.cos(1.35 * t)), `sphereface at ${t}`);
  });
  // Every margin curve lies below softmax's (a margin only ever penalises) and never rises with theta.
  for (const key of ['sphereface', 'cosface', 'arcface', 'cm1', 'cm2']) {
    for (let i = 1; i < theta.length; i++) {
      assert.ok(curves[key][i] <= curves[key][i - 1] + 1e-6, `${key} rises at ${theta[i]}`);
      assert.ok(curves[key][i] <= curves.softmax[i] + 1e-6, `${key} above softmax at ${theta[i]}`);
    }
  }
  assert.match(
    readFileSync(join(tmp, 'c.svg'), 'utf8'),
    /^<svg[^>]*>[\s\S]*ArcFace \(m2=0\.5\)[\s\S]*<\/svg>\n$/,
  );
});
