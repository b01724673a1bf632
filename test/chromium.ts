/**
 * Headless Chromium for the browser tests: Debian's (or CHROMIUM_PATH), driven by playwright-core;
 * no browser is ever downloaded. `chromiumSkip` is the skip message when either is missing.
 */
import { existsSync } from 'node:fs';
import type { Browser } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

let playwright: typeof import('playwright-core') | null = null;
try {
  playwright = await import('playwright-core');
} catch {
  playwright = null;
}

/** false when Chromium and playwright-core are there, else why `what` is skipped. */
export function chromiumSkip(what: string): false | string {
  if (!existsSync(CHROMIUM))
    return `no Chromium at ${CHROMIUM} (install it with tools/ci/chromium.sh, or set CHROMIUM_PATH): ${what} skipped`;
  if (!playwright) return `playwright-core is not installed (npm install): ${what} skipped`;
  return false;
}

export function launchChromium(): Promise<Browser> {
  // Root in CI containers: Chromium's sandbox needs user namespaces it may not have.
  return playwright!.chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
}
