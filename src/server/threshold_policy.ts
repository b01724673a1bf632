/**
 * A recognise key is read-only, and a threshold is part of what the server answers: with `threshold:
 * -1` every face would be named as its nearest enrolled subject, turning identify into "who in this
 * gallery looks most like this photo". So a recognise key may make the threshold stricter (a higher
 * threshold, a lower fpir) but not looser than the server's own; an admin key may set any. On a
 * server with no keys (loopback only) there is no key kind and nothing to hold back.
 */
import type { FastifyRequest } from 'fastify';
import type { Aggregate } from '../gallery/index.js';
import { ServiceError } from '../service/errors.js';
import type { RecognitionService } from '../service/service.js';

function refuse(asked: number, own: number, where: string): never {
  throw new ServiceError(
    'FORBIDDEN',
    `a recognise key may make the threshold stricter, not looser: ${asked.toFixed(4)} is below the ` +
      `server's ${own.toFixed(4)} for ${where}; a looser threshold needs an admin key`,
  );
}

/** The server's own threshold, or undefined when it has none (then the caller must give one anyway). */
function own(f: () => number): number | undefined {
  try {
    return f();
  } catch {
    return undefined;
  }
}

/** identify: the threshold the caller's threshold/fpir come to against the server's, same gallery size. */
export async function checkIdentifyThreshold(
  req: FastifyRequest,
  service: RecognitionService,
  gallery: string,
  opts: { threshold?: number; fpir?: number; aggregate?: Aggregate },
): Promise<void> {
  if (req.keyKind !== 'recognise' || (opts.threshold === undefined && opts.fpir === undefined)) return;
  const g = await service.gallery(gallery);
  const enrolled = opts.aggregate === 'mean' ? g.subjects : g.faces;
  const rec = service.recognizer;
  const server = own(() => rec.openSetThreshold(enrolled).threshold);
  if (server === undefined) return;
  const asked = rec.openSetThreshold(enrolled, { threshold: opts.threshold, fpir: opts.fpir }).threshold;
  if (asked < server) refuse(asked, server, `identification in gallery '${gallery}'`);
}

/** verify against a subject: the caller's threshold against the server's verify threshold. */
export function checkVerifyThreshold(
  req: FastifyRequest,
  service: RecognitionService,
  threshold: number | undefined,
): void {
  if (req.keyKind !== 'recognise' || threshold === undefined) return;
  const server = own(() => service.threshold());
  if (server !== undefined && threshold < server) refuse(threshold, server, 'verification');
}
