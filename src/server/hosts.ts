/**
 * Which names the server answers to. A loopback server answers only requests whose Host header names
 * it (localhost, 127.0.0.1, [::1], its bind address, and names an operator allows): a page of
 * attacker.example whose DNS name was rebound to 127.0.0.1 is same-origin with the API in the
 * browser's eyes, and its Host header is the one thing that tells it apart. Ports are not compared:
 * `ssh -L 9000:127.0.0.1:8080` or a container's port mapping legitimately change them, and a rebound
 * name is told apart by its name alone.
 */
import { badInput } from '../errors.js';

export const DEFAULT_HOST = '127.0.0.1';

export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  return h === 'localhost' || h === '::1' || /^(::ffff:)?127(\.\d{1,3}){3}$/.test(h);
}

/** The name part of a Host header ("[::1]:8080" -> "[::1]", "LocalHost.:80" -> "localhost"), or null. */
export function hostName(header: string | undefined): string | null {
  const h = header?.trim().toLowerCase();
  if (!h) return null;
  const m = /^(\[[0-9a-f:.]+\]|[a-z0-9_.-]+)(?::\d{1,5})?$/.exec(h);
  return m ? m[1].replace(/(.)\.$/, '$1') : null;
}

/** An operator's extra name for --allow-host ("faces.example", "faces.example:443"), checked. */
export function allowedHostName(value: string): string {
  const name = hostName(value);
  if (!name) throw badInput(`--allow-host: '${value}' is not a host name (e.g. faces.example)`);
  return name;
}

/**
 * The names a Host header may carry, or null for no check: a server bound elsewhere than loopback
 * (it always needs a key there) is reached by whatever names its network gives it, unless the
 * operator lists them.
 */
export function hostNames(bind: string, allowed: readonly string[] = []): Set<string> | null {
  if (!isLoopback(bind) && allowed.length === 0) return null;
  const names = new Set(['localhost', '127.0.0.1', '[::1]', ...allowed.map(allowedHostName)]);
  const own = hostName(bind.includes(':') && !bind.startsWith('[') ? `[${bind}]` : bind);
  if (own && own !== '0.0.0.0' && own !== '[::]') names.add(own);
  return names;
}
