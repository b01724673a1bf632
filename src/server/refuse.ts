/** A refusal answered from a hook, in the API's one error shape (`{"error": {"code", "message"}}`). */
import type { FastifyReply } from 'fastify';

export function refuse(reply: FastifyReply, status: number, code: string, message: string): FastifyReply {
  return reply.code(status).send({ error: { code, message } });
}
