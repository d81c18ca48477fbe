// The API's one error shape: `{ message }` with a 4xx/5xx status. Validation
// failures (schema) become 400 with a sentence naming the parameter, never a
// stack trace.

import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';

export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
  }
}

export function errorHandler(err: FastifyError | ApiError, req: FastifyRequest, reply: FastifyReply): void {
  const fe = err as FastifyError;
  if (fe.validation) {
    const ctx = fe.validationContext ?? 'request';
    const v = fe.validation[0];
    const where = v?.instancePath ? v.instancePath.replace(/^\//, '') : ((v?.params as { additionalProperty?: string } | undefined)?.additionalProperty ?? '');
    let what = v?.message ?? fe.message;
    if (v?.keyword === 'additionalProperties') what = 'is not a known parameter';
    if (v?.keyword === 'enum') what = `must be one of ${(v.params as { allowedValues: unknown[] }).allowedValues.join(', ')}`;
    void reply.status(400).send({ message: `${ctx === 'querystring' ? 'query parameter' : ctx} '${where}' ${what}` });
    return;
  }
  const status = err.statusCode ?? 500;
  const ours = err instanceof ApiError;
  if (!ours && status >= 500) req.log.error(err);
  void reply.status(status).send({ message: ours || status < 500 ? err.message : 'internal error' });
}

/** Response schema for errors, shared by every route. */
export const errorSchema = {
  type: 'object',
  properties: { message: { type: 'string' } },
  required: ['message'],
} as const;
