/**
 * What the web page's browser tests share: Debian's headless Chromium driven by playwright-core (no
 * browser is downloaded), a real server on 127.0.0.1 with the defaults `npm start` serves over a
 * temporary SQLite store and an admin key, a page that records its script errors and 404s, and a
 * basic accessibility check. Screenshots go to test-artifacts/web/.
 */
import type { TestContext } from 'node:test';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContextOptions, Page } from 'playwright-core';
import { KeyStore, RecognitionService } from '../src/service/index.js';
import { startServer } from '../src/server/index.js';
import { DEEPFACE, NOFACE } from './helpers.js';

export { NOFACE };
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const ARTIFACTS = join(import.meta.dirname, '../test-artifacts/web');
/** A bound for a stuck page, not a speed check: inference on a loaded 2-core machine can take seconds. */
export const WAIT_MS = 60_000;

let playwright: typeof import('playwright-core') | null = null;
try {
  playwright = await import('playwright-core');
} catch {
  playwright = null;
}

/** Why the browser tests cannot run here, or false. */
export const webSkip: string | false = !existsSync(CHROMIUM)
  ? `no Chromium at ${CHROMIUM} (install it with tools/ci/chromium.sh, or set CHROMIUM_PATH): web page test skipped`
  : !playwright
    ? 'playwright-core is not installed (npm install): web page test skipped'
    : ![DEEPFACE, NOFACE].every(existsSync)
      ? '../shared (deepface photos) is absent: web page test skipped'
      : false;

/** One of deepface's photos by file name. */
export const photo = (name: string): string => join(DEEPFACE, name);

export interface WebSession {
  browser: Browser;
  service: RecognitionService;
  admin: string;
  url: string;
}

/**
 * Browser, service and server for one test file, closed (and the store removed) when `t` ends.
 * `args`: more Chromium switches (a fake camera, say).
 */
export async function openWebSession(
  t: TestContext,
  { args = [] }: { args?: string[] } = {},
): Promise<WebSession> {
  const tmp = mkdtempSync(join(tmpdir(), 'arcface-web-'));
  mkdirSync(ARTIFACTS, { recursive: true });
  // Root in CI containers: Chromium's sandbox needs user namespaces it may not have.
  const browser = await playwright!.chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', ...args],
  });
  // The defaults `npm start` serves (dlib-resnet-v1 + faceapi): the page is judged as users get it.
  const service = await RecognitionService.open({ store: join(tmp, 'data') });
  const keys = new KeyStore(join(tmp, 'data', 'keys.json'));
  const admin = keys.create('admin', 'web test').token;
  const { app, url } = await startServer({ service, keys, host: '127.0.0.1', port: 0 });
  t.after(async () => {
    await browser.close();
    await app.close();
    await service.close();
    rmSync(tmp, { recursive: true, force: true });
  });
  return { browser, service, admin, url };
}

export interface WatchedPage {
  page: Page;
  /** Script errors and console errors (a 4xx the page handles is logged by Chromium too: not counted). */
  pageErrors: string[];
  /** "METHOD /path" of every 404 answer: the page never asks for what it has not made. */
  notFound: string[];
  screenshot(name: string): Promise<Buffer>;
}

export async function watchedPage(
  browser: Browser,
  options: BrowserContextOptions = { viewport: { width: 1200, height: 900 } },
): Promise<WatchedPage> {
  const page = await browser.newPage(options);
  const pageErrors: string[] = [];
  const notFound: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('response', (r) => {
    if (r.status() === 404) notFound.push(`${r.request().method()} ${new URL(r.url()).pathname}`);
  });
  page.on('console', (m) => {
    if (m.type() === 'error' && !/status of 4\d\d/.test(m.text())) pageErrors.push(m.text());
  });
  page.setDefaultTimeout(WAIT_MS);
  const screenshot = (name: string) =>
    page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
  return { page, pageErrors, notFound, screenshot };
}

/** Types the key into the page's field and waits for the footer to show the model it unlocked. */
export async function enterKey(page: Page, key: string): Promise<void> {
  await page.getByLabel('API key').fill(key);
  await page.getByLabel('API key').press('Tab'); // change event: stored in sessionStorage
  await page.locator('#model-info', { hasText: 'dlib-resnet-v1' }).waitFor();
}

/** Problems an assistive technology would trip on: unlabelled inputs, nameless buttons, images without alt. */
export function a11yProblems(page: Page): Promise<string[]> {
  // Plain JS text, not a function: tsx compiles functions with a __name helper the page does not have.
  return page.evaluate(`(() => {
    const out = [];
    const describe = (e) => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '');
    const named = (e) => {
      const by = e.getAttribute('aria-labelledby');
      return (
        !!e.getAttribute('aria-label')?.trim() ||
        (!!by && by.split(' ').every((id) => document.getElementById(id)?.textContent?.trim()))
      );
    };
    for (const e of document.querySelectorAll('input, select, textarea')) {
      if (e.type === 'hidden') continue;
      if (![...(e.labels ?? [])].some((l) => l.textContent.trim()) && !named(e)) out.push(describe(e) + ' has no label');
    }
    for (const b of document.querySelectorAll('button, [role="button"], [role="tab"]'))
      // A name of symbols only ("×") tells a screen reader nothing: a letter or digit is required.
      if (!/[a-z0-9]/i.test(b.textContent) && !named(b)) out.push(describe(b) + ' has no accessible name');
    for (const img of document.querySelectorAll('img'))
      if (!img.hasAttribute('alt')) out.push('img ' + (img.getAttribute('src') ?? '').slice(0, 30) + ' has no alt');
    for (const s of document.querySelectorAll('[role="tabpanel"]'))
      if (!named(s)) out.push(describe(s) + ' (tabpanel) has no name');
    if (!document.querySelector('[aria-live]')) out.push('no aria-live region');
    return out;
  })()`);
}
