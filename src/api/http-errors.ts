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
  const ours = err instanceof ApiError;
  // A status outside 4xx/5xx on an error is itself a bug: answer 500.
  const status = err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode <= 599 ? err.statusCode : 500;
  if (status >= 500) {
    // Every 5xx is logged. Ours (ApiError: "no reading of the table yet")
    // are expected states worded for the operator: the sentence is enough.
    // Anything else is a bug: its stack goes to the log, never to the client.
    if (ours) req.log.warn({ route: req.routeOptions.url, statusCode: status }, err.message);
    else req.log.error({ err, route: req.routeOptions.url, url: req.url, statusCode: status }, 'internal error answering a request');
  }
  void reply.status(status).send({ message: ours || status < 500 ? err.message : 'internal error (logged by the daemon)' });
}

/** Response schema for errors, shared by every route. */
export const errorSchema = {
  type: 'object',
  properties: { message: { type: 'string' } },
  required: ['message'],
} as const;
