/** Files from `arcface serve`'s /lib/ (models, manifests), with errors that say which and why. */
import { ArcfaceError, badInput } from '../errors.js';

async function get(url: URL): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(url, { credentials: 'same-origin' });
  } catch (err) {
    throw badInput(`${url.href}: cannot fetch (${(err as Error)?.message ?? err})`);
  }
  if (res.ok) return res;
  // The server's errors are {"error": {"code", "message"}}.
  const body = (await res.json().catch(() => null)) as { error?: { message?: string } } | null;
  const why = body?.error?.message ?? res.statusText;
  throw new ArcfaceError(
    res.status === 404 ? 'NOT_FOUND' : 'BAD_INPUT',
    `${url.href}: HTTP ${res.status} ${why}`,
  );
}

export async function fetchJson(url: URL): Promise<unknown> {
  const res = await get(url);
  try {
    return await res.json();
  } catch (err) {
    throw badInput(`${url.href}: not JSON (${(err as Error).message})`);
  }
}

export async function fetchBytes(url: URL): Promise<Uint8Array> {
  return new Uint8Array(await (await get(url)).arrayBuffer());
}

/** `bytes` hash to `sha256` (hex), where the page can hash (secure contexts): a stale cache mixing versions fails here. */
export async function checkSha256(
  bytes: Uint8Array,
  sha256: string | undefined,
  name: string,
): Promise<void> {
  const subtle = globalThis.crypto?.subtle;
  if (!sha256 || !subtle) return;
  const digest = new Uint8Array(await subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
  const hex = Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
  if (hex !== sha256)
    throw new ArcfaceError(
      'BAD_CONFIG',
      `${name}: the model bytes do not match their manifest's sha256; reload the page`,
    );
}
