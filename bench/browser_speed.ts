/**
 * Speed of arcface/browser in headless Chromium against the Node pipeline, on the same photos.
 *
 * The server runs in this process as `arcface serve` does (test/web_harness.ts: defaults over a
 * temporary store, 127.0.0.1, port 0); Debian's Chromium (playwright-core, no browser downloaded)
 * opens a page of the server's origin that the bench serves itself (/bench/page.html, with the
 * page's CSP and COOP same-origin + COEP require-corp, so the page is cross-origin isolated and
 * onnxruntime-web may start threads) and imports /lib/arcface.js from the server. One page per
 * thread count: a page's wasm runtime keeps the threads of its first create().
 *
 * Stages, each a pass over every photo, per photo in turn (what a page does with photos a user picks):
 *   detect    detect() on the decoded pixels: face-api's SSD + the 68-point net (no decoding)
 *   embed     embedCrops() of each photo's aligned crops (dlib chips, flip-sum): the recogniser alone
 *   pipeline  embedAll() of the encoded photo in memory (a Blob in the page, a Buffer in Node):
 *             decode + detect + align + embed, every face
 * The Node side runs FaceRecognizer.create() (what `arcface serve` and the CLI run) with 1 and 2
 * onnxruntime threads through the same calls. One warm-up pass of every stage first; then rounds
 * alternate configurations and stages, so load from other processes hits each alike; every number
 * is the median over rounds. Photos are at most 2048 px on their longest side, so the pipeline
 * detects on the very pixels the detect stage gets (larger JPEGs are detected on a reduced copy).
 *
 *   node --import tsx bench/browser_speed.ts [--rounds 3] [--threads 1,2] [--webgpu] [--out FILE]
 *
 * WebGPU: backend 'webgpu' is tried on a third page and timed when it runs; --webgpu starts Chromium
 * with --enable-unsafe-webgpu (a software adapter on a machine without a GPU). --out writes the
 * report (markdown) to FILE too.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Browser, Page, Route } from 'playwright-core';
import type { RgbImage } from '../src/image/types.js';
import { FaceRecognizer } from '../src/pipeline/recognizer.js';
import { KeyStore, RecognitionService } from '../src/service/index.js';
import { startServer } from '../src/server/index.js';
import { PAGE_CSP } from '../src/server/web.js';
import { SHARED } from './shared_models.js';

const FACES = join(SHARED, 'data/faces');
const FR = join(FACES, 'face_recognition/examples');
const DF = join(FACES, 'deepface/tests/unit/dataset');
/** 20 photos, 330x512 to 1536x2048, 25 faces found (1-5 a photo): face_recognition's examples and deepface's. */
const PHOTOS = [
  ...[
    'obama.jpg',
    'obama2.jpg',
    'obama-720p.jpg',
    'two_people.jpg',
    'alex-lacamoire.png',
    'lin-manuel-miranda.png',
  ].map((f) => join(FR, f)),
  ...[
    'img1.jpg',
    'img2.jpg',
    'img3.jpg',
    'img5.jpg',
    'img6.jpg',
    'img7.jpg',
    'img8.jpg',
    'img9.jpg',
    'img10.jpg',
    'img11.jpg',
    'img12.jpg',
    'img13.jpg',
    'img14.jpg',
    'selfie-many-people.jpg',
  ].map((f) => join(DF, f)),
];
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const STAGES = ['detect', 'embed', 'pipeline'] as const;
type Stage = (typeof STAGES)[number];

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    threads: { type: 'string', default: '1,2' },
    webgpu: { type: 'boolean', default: false },
    out: { type: 'string' },
  },
});
const rounds = Number(values.rounds);
const threadCounts = values.threads!.split(',').map(Number);
if (!(Number.isInteger(rounds) && rounds >= 1))
  throw new Error(`--rounds: a positive integer, got ${values.rounds}`);
if (!threadCounts.every((n) => Number.isInteger(n) && n >= 1))
  throw new Error(`--threads: positive integers, got ${values.threads}`);

const missing = [CHROMIUM, ...PHOTOS].filter((p) => !existsSync(p));
if (missing.length) {
  console.log(`skipped: missing ${missing.join(', ')} (../shared photos, Chromium at CHROMIUM_PATH)`);
  process.exit(0);
}
const playwright = await import('playwright-core');

/** One timed pass of a stage: milliseconds and faces handled. */
interface Pass {
  ms: number;
  faces: number;
}

/** A configuration that can run a pass of each stage. */
interface Runner {
  name: string;
  side: 'browser' | 'node';
  threads: number;
  backend: string;
  pass(stage: Stage): Promise<Pass>;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** Runs `body` (an async function body as text) in the page: tsx-compiled functions would not run there. */
const run = <T>(page: Page, body: string) => page.evaluate(`(async () => { ${body} })()`) as Promise<T>;

/** The page's side: the library, the photos as Blobs, and for each photo its pixels, faces and crops. */
const PAGE_SETUP = (opts: string, names: string[]) => `
  const { FaceRecognizer } = await import('/lib/arcface.js');
  const t0 = performance.now();
  const rec = await FaceRecognizer.create(${opts});
  const createMs = performance.now() - t0;
  const blobs = await Promise.all(${JSON.stringify(names)}.map((n) => fetch('/bench/' + n).then((r) => r.blob())));
  const images = [], crops = [];
  for (const b of blobs) {
    const d = await rec.detect(b);
    images.push(d.image);
    crops.push(d.faces.map((f) => rec.align(d.image, f)));
  }
  window.bench = async (stage) => {
    let faces = 0;
    const t = performance.now();
    for (let i = 0; i < blobs.length; i++) {
      if (stage === 'detect') faces += (await rec.detect(images[i])).faces.length;
      else if (stage === 'embed') faces += crops[i].length ? (await rec.embedCrops(crops[i])).length : 0;
      else faces += (await rec.embedAll(blobs[i])).length;
    }
    return { ms: performance.now() - t, faces };
  };
  return { backend: rec.runtime.backend, threads: rec.runtime.threads, isolated: crossOriginIsolated,
           createMs, faces: crops.map((c) => c.length) };`;

interface PageInfo {
  backend: string;
  threads: number;
  isolated: boolean;
  createMs: number;
  faces: number[];
}

/** A cross-origin isolated page of the server's origin with the photos under /bench/. */
async function benchPage(browser: Browser, url: string, files: Map<string, Buffer>): Promise<Page> {
  const page = await browser.newPage();
  page.setDefaultTimeout(120_000);
  page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
  await page.route(new URL('/bench/**', url).href, (route: Route) => {
    const name = new URL(route.request().url()).pathname.slice('/bench/'.length);
    if (name === 'page.html')
      return route.fulfill({
        contentType: 'text/html',
        body: '<!doctype html><title>arcface/browser speed</title>',
        headers: {
          'content-security-policy': PAGE_CSP,
          'cross-origin-opener-policy': 'same-origin',
          'cross-origin-embedder-policy': 'require-corp',
        },
      });
    const body = files.get(name);
    return body
      ? route.fulfill({ body, headers: { 'cross-origin-resource-policy': 'same-origin' } })
      : route.fulfill({ status: 404, body: 'no such photo' });
  });
  await page.goto(new URL('/bench/page.html', url).href);
  return page;
}

async function browserRunner(
  browser: Browser,
  url: string,
  files: Map<string, Buffer>,
  opts: { threads: number; backend?: 'webgpu' },
): Promise<{ runner: Runner; info: PageInfo }> {
  const page = await benchPage(browser, url, files);
  const info = await run<PageInfo>(
    page,
    PAGE_SETUP(JSON.stringify({ threads: opts.threads, backend: opts.backend }), [...files.keys()]),
  );
  if (!info.isolated) throw new Error('the bench page is not cross-origin isolated: no wasm threads');
  const name =
    info.backend === 'webgpu'
      ? 'browser webgpu'
      : `browser wasm ${info.threads} thread${info.threads > 1 ? 's' : ''}`;
  return {
    info,
    runner: {
      name,
      side: 'browser',
      threads: info.threads,
      backend: info.backend,
      pass: (stage) => run<Pass>(page, `return window.bench(${JSON.stringify(stage)});`),
    },
  };
}

async function nodeRunner(
  threads: number,
  buffers: Buffer[],
): Promise<{ runner: Runner; faces: number[]; createMs: number }> {
  const t0 = performance.now();
  const rec = await FaceRecognizer.create({ threads });
  await rec.detector();
  const createMs = performance.now() - t0;
  const images: RgbImage[] = [];
  const crops: RgbImage[][] = [];
  for (const b of buffers) {
    const d = await rec.detect(b);
    images.push(d.image);
    crops.push(d.faces.map((f) => rec.align(d.image, f)));
  }
  const pass = async (stage: Stage): Promise<Pass> => {
    let faces = 0;
    const t = performance.now();
    for (let i = 0; i < buffers.length; i++) {
      if (stage === 'detect') faces += (await rec.detect(images[i]!)).faces.length;
      else if (stage === 'embed') faces += crops[i]!.length ? (await rec.embedCrops(crops[i]!)).length : 0;
      else faces += (await rec.embedAll(buffers[i]!)).length;
    }
    return { ms: performance.now() - t, faces };
  };
  return {
    faces: crops.map((c) => c.length),
    createMs,
    runner: {
      name: `Node ${threads} thread${threads > 1 ? 's' : ''}`,
      side: 'node',
      threads,
      backend: 'cpu',
      pass,
    },
  };
}

const started = new Date();
const load0 = loadavg();
const tmp = mkdtempSync(join(tmpdir(), 'arcface-speed-'));
const browser = await playwright.chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  // Root in CI containers: Chromium's sandbox needs user namespaces it may not have.
  args: ['--no-sandbox', ...(values.webgpu ? ['--enable-unsafe-webgpu'] : [])],
});
const service = await RecognitionService.open({ store: join(tmp, 'data') });
const keys = new KeyStore(join(tmp, 'data', 'keys.json'));
keys.create('admin', 'speed bench');
const { app, url } = await startServer({ service, keys, host: '127.0.0.1', port: 0 });
const lines: string[] = [];
const say = (s = '') => {
  console.log(s);
  lines.push(s);
};

try {
  const files = new Map(PHOTOS.map((p) => [basename(p), readFileSync(p)] as const));
  const buffers = [...files.values()];
  const runners: Runner[] = [];
  const setup: string[] = [];
  let faces: number[] | undefined;
  for (const threads of threadCounts) {
    const b = await browserRunner(browser, url, files, { threads });
    if (b.info.threads !== threads)
      throw new Error(`asked ${threads} wasm threads, the page runs ${b.info.threads}`);
    runners.push(b.runner);
    setup.push(`${b.runner.name}: create() ${Math.round(b.info.createMs)} ms`);
    faces ??= b.info.faces;
    const n = await nodeRunner(threads, buffers);
    runners.push(n.runner);
    setup.push(`${n.runner.name}: create() ${Math.round(n.createMs)} ms`);
    if (n.faces.join() !== b.info.faces.join())
      throw new Error(`faces per photo differ: browser ${b.info.faces} vs Node ${n.faces}`);
  }
  // WebGPU: what this Chromium offers (an adapter or none), then a recogniser on it; timed when it runs.
  let webgpu: string;
  const probe = await benchPage(browser, url, new Map());
  const adapter = await run<string | null>(
    probe,
    `const a = await navigator.gpu?.requestAdapter().catch(() => null);
     return a ? [a.info?.vendor, a.info?.architecture, a.info?.description].filter(Boolean).join(' ') || 'unnamed' : null;`,
  );
  await probe.close();
  try {
    const g = await browserRunner(browser, url, files, { threads: 1, backend: 'webgpu' });
    runners.push(g.runner);
    webgpu = `runs on adapter "${adapter}" (create() ${Math.round(g.info.createMs)} ms)`;
  } catch (err) {
    const why = (err as Error).message.split('\n')[0]!.replace(/^page\.evaluate: /, '');
    webgpu =
      `not available in headless Chromium here (${values.webgpu ? 'with' : 'without'} --enable-unsafe-webgpu; ` +
      `adapter: ${adapter === null ? 'none' : `"${adapter}"`}): ${why}`;
  }
  const totalFaces = faces!.reduce((a, b) => a + b, 0);

  // Warm-up: the first runs compile wasm kernels and size onnxruntime's buffers.
  for (const r of runners) for (const s of STAGES) await r.pass(s);
  const times = new Map<string, number[]>();
  for (let round = 0; round < rounds; round++) {
    for (const s of STAGES)
      for (const r of runners) {
        const p = await r.pass(s);
        if (p.faces !== totalFaces)
          throw new Error(`${r.name} ${s}: ${p.faces} faces, expected ${totalFaces}`);
        const key = `${r.name}|${s}`;
        times.set(key, [...(times.get(key) ?? []), p.ms]);
      }
    process.stderr.write(`round ${round + 1}/${rounds} done\n`);
  }
  const ms = (r: Runner, s: Stage) => median(times.get(`${r.name}|${s}`)!);
  const n = PHOTOS.length;
  const fmt = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));

  say(`## arcface/browser vs Node, ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC`);
  say();
  say(
    `${n} photos, ${totalFaces} faces (${faces!.join(', ')} per photo); medians of ${rounds} rounds after a warm-up; ` +
      `photos/s (faces/s); ratio = browser time / Node time at the same thread count.`,
  );
  say();
  const browsers = runners.filter((r) => r.side === 'browser');
  const nodes = runners.filter((r) => r.side === 'node');
  const header = [
    'stage',
    ...runners.map((r) => r.name),
    ...threadCounts.map((t) => `browser / Node, ${t}t`),
  ];
  say(`| ${header.join(' | ')} |`);
  say(`| ${header.map((_, i) => (i ? '---:' : '---')).join(' | ')} |`);
  const LABEL: Record<Stage, string> = {
    detect: 'detect (SSD + landmarks)',
    embed: 'embed (aligned crops)',
    pipeline: 'whole pipeline (decode + detect + align + embed)',
  };
  for (const s of STAGES) {
    const cells = runners.map((r) => {
      const t = ms(r, s) / 1000;
      return `${fmt(n / t)} (${fmt(totalFaces / t)})`;
    });
    const ratios = threadCounts.map((t) => {
      const b = browsers.find((r) => r.threads === t && r.backend === 'wasm')!;
      const nd = nodes.find((r) => r.threads === t)!;
      return `${(ms(b, s) / ms(nd, s)).toFixed(2)}x`;
    });
    say(`| ${[LABEL[s], ...cells, ...ratios].join(' | ')} |`);
  }
  say();
  say(`ms per photo (median pass / ${n}):`);
  for (const r of runners) say(`- ${r.name}: ${STAGES.map((s) => `${s} ${fmt(ms(r, s) / n)}`).join(', ')}`);
  say();
  say(`WebGPU: ${webgpu}.`);
  say(`Setup: ${setup.join('; ')}.`);
  const load1 = loadavg();
  say(
    `Machine: ${cpus().length} x ${cpus()[0]?.model.trim()}; load average ${load0[0]!.toFixed(2)} at start, ` +
      `${load1[0]!.toFixed(2)} at end (shared machine). Node ${process.version}, Chromium ${browser.version()} ` +
      `(headless), onnxruntime-web ${version('onnxruntime-web')}, onnxruntime-node ${version('onnxruntime-node')}, ` +
      `model ${service.recognizer.manifest.name} + faceapi.`,
  );
  say(`Photos: ${PHOTOS.map((p) => p.slice(FACES.length + 1)).join(', ')} (under ../shared/data/faces).`);
  say(`Run time: ${((Date.now() - started.getTime()) / 1000).toFixed(0)} s.`);
  if (values.out) {
    mkdirSync(dirname(values.out), { recursive: true });
    writeFileSync(values.out, lines.join('\n') + '\n');
  }
} finally {
  await browser.close();
  await app.close();
  await service.close();
  rmSync(tmp, { recursive: true, force: true });
}

function version(pkg: string): string {
  const path = join(import.meta.dirname, '../node_modules', pkg, 'package.json');
  return (JSON.parse(readFileSync(path, 'utf8')) as { version: string }).version;
}
