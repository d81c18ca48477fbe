// How every route's input is checked, in one place: ajv's options, and the
// strict-number check that runs before ajv on every integer parameter.
//
// Why the second: ajv's type coercion (which turns the query's strings into
// numbers) takes whatever `Number()` takes, so `Infinity`, `1e309`, `0x10`,
// `1e2`, ` 5` and `+5` all became numbers, and ±Infinity then passed
// `{ type: 'integer', minimum, maximum }` — answers of 500, internal
// messages, silently clamped windows. A parameter declared `type: 'integer'`
// (in the query or the path, on any route, declared through
// routes/schemas.ts or not) must therefore be written in decimal digits with
// an optional leading '-', and be a safe integer, before ajv coerces and
// range-checks it. Every route is covered as it is declared (an onRoute
// hook), so a new route cannot forget it.

import type { FastifyError, FastifyInstance, FastifyRequest, RouteOptions } from 'fastify';

/** Ajv options of the app (src/api/app.ts) and of any test app built like it. */
export const AJV_OPTIONS = {
  customOptions: {
    // Unknown query parameters are errors, not silently dropped: a typo in
    // `windwo=60` must not quietly answer for the default window.
    removeAdditional: false,
    coerceTypes: true,
    allErrors: false,
  },
} as const;

const DECIMAL = /^-?[0-9]+$/;

/** A route as declared: its method, URL pattern and input schemas. */
export interface DeclaredRoute {
  method: string;
  url: string;
  querystring?: { properties?: Record<string, { type?: unknown; minimum?: number; maximum?: number }> };
  params?: { properties?: Record<string, { type?: unknown; minimum?: number; maximum?: number }> };
}

type Part = 'querystring' | 'params';

/** Why `value` cannot stand for an integer parameter, or null when it can. */
export function decimalIntegerProblem(value: string): string | null {
  if (!DECIMAL.test(value)) return 'must be an integer written in decimal digits';
  if (!Number.isSafeInteger(Number(value))) return 'is out of range';
  return null;
}

function integerNames(schema: DeclaredRoute['querystring']): string[] {
  const props = schema?.properties ?? {};
  return Object.keys(props).filter((k) => {
    const t = props[k]?.type;
    return t === 'integer' || (Array.isArray(t) && t.includes('integer'));
  });
}

/** A 400 shaped as ajv's, so the app's error handler words it the same way. */
function validationError(part: Part, name: string, problem: string): FastifyError {
  const e = new Error(`${part}/${name} ${problem}`) as FastifyError & { validation: unknown[]; validationContext: string };
  e.statusCode = 400;
  e.validation = [{ instancePath: `/${name}`, keyword: 'decimal', params: {}, message: problem, schemaPath: '' }];
  e.validationContext = part;
  return e;
}

function checker(names: Record<Part, string[]>) {
  return async function strictNumbers(req: FastifyRequest): Promise<void> {
    for (const part of ['querystring', 'params'] as const) {
      const values = (part === 'querystring' ? req.query : req.params) as Record<string, unknown> | undefined;
      if (!values) continue;
      for (const name of names[part]) {
        const v = values[name];
        // absent: the default applies; repeated (an array): ajv says "must be integer"
        if (typeof v !== 'string') continue;
        const problem = decimalIntegerProblem(v);
        if (problem) throw validationError(part, name, problem);
      }
    }
  };
}

const catalogs = new WeakMap<FastifyInstance, DeclaredRoute[]>();

/**
 * Install on the root instance before any route: every route declared after
 * (in any plugin) gets the strict-number check for its integer parameters
 * and is listed by declaredRoutes().
 */
export function installValidation(app: FastifyInstance): void {
  const catalog: DeclaredRoute[] = [];
  catalogs.set(app, catalog);
  app.addHook('onRoute', (route: RouteOptions) => {
    const schema = (route.schema ?? {}) as Pick<DeclaredRoute, 'querystring' | 'params'>;
    for (const method of [route.method].flat()) {
      catalog.push({ method: String(method), url: route.url, ...(schema.querystring ? { querystring: schema.querystring } : {}), ...(schema.params ? { params: schema.params } : {}) });
    }
    const names = { querystring: integerNames(schema.querystring), params: integerNames(schema.params) };
    if (names.querystring.length + names.params.length === 0) return;
    const check = checker(names);
    const existing = route.preValidation;
    route.preValidation = existing === undefined ? [check] : [check, ...[existing].flat()];
  });
}

/** Every route declared on `app` since installValidation(), with its input schemas. */
export function declaredRoutes(app: FastifyInstance): readonly DeclaredRoute[] {
  return catalogs.get(app) ?? [];
}
