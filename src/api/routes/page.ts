// GET / and /assets/*: the dashboard, the files `make web` built into
// dist/web (web/ bundled by esbuild with uPlot: one page, one script, one
// stylesheet, an icon). Read once at start and served from memory; nothing else on
// disk is reachable (the names are an enum), nothing is fetched from
// anywhere at run time, and a Content-Security-Policy lets the page talk to
// this origin only.

import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { PageAccess } from '../access.js';
import { ApiError, errorSchema } from '../http-errors.js';

// dist/api/routes/page.js -> dist/web/; run from the sources (tests, tsx),
// src/api/routes/page.ts -> the built dist/web/ of the same tree.
const BUILT = fileURLToPath(new URL('../../web/', import.meta.url));
export const PAGE_DIR = import.meta.url.endsWith('.ts') ? fileURLToPath(new URL('../../../dist/web/', import.meta.url)) : BUILT;
const ASSETS = { 'app.js': 'text/javascript; charset=utf-8', 'app.css': 'text/css; charset=utf-8', 'icon.svg': 'image/svg+xml' } as const;
type Asset = keyof typeof ASSETS;

/** The page may load its own script and style and call this origin's API; nothing else. */
export const PAGE_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

interface File {
  body: Buffer;
  type: string;
  etag: string;
}

const file = (body: Buffer, type: string): File => ({ body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` });

/**
 * The page as told about access (index.html's <body> gains data-auth): where
 * the API wants a token, "signin" makes the page ask for it before it asks
 * the API for anything (no refused request, no console error), "session"
 * offers to sign out. Decided per request, so no script has to find out.
 */
function withAccess(page: File, access: Exclude<PageAccess, null>): File {
  // a page that must sign in asks the API for nothing: not even the headline's preloads
  let html = page.body.toString('utf8');
  if (access === 'signin') html = html.replace(/^<link rel="preload"[^\n]*\n/gm, '');
  const at = html.indexOf('<body');
  return at < 0 ? page : file(Buffer.from(`${html.slice(0, at + 5)} data-auth="${access}"${html.slice(at + 5)}`), page.type);
}

function load(dir: string): Map<string, File> | null {
  const out = new Map<string, File>();
  const read = (rel: string, type: string) => {
    out.set(path.basename(rel), file(fs.readFileSync(path.join(dir, rel)), type));
  };
  try {
    read('index.html', 'text/html; charset=utf-8');
    const page = out.get('index.html')!;
    out.set('index.html#signin', withAccess(page, 'signin'));
    out.set('index.html#session', withAccess(page, 'session'));
    for (const [name, type] of Object.entries(ASSETS)) read(`assets/${name}`, type);
  } catch {
    return null;
  }
  return out;
}

export async function pageRoutes(app: FastifyInstance, opts: { dir?: string; access?: (req: FastifyRequest) => PageAccess }): Promise<void> {
  const dir = opts.dir ?? PAGE_DIR;
  const files = load(dir);
  const errors = { '4xx': errorSchema, '5xx': errorSchema };
  const send = (name: string, req: FastifyRequest, reply: FastifyReply) => {
    const f = files?.get(name);
    if (!f) throw new ApiError(503, `the dashboard is not built (${dir} is missing or incomplete): run \`make web\` (npm start and npm test build it); the JSON API works without it`);
    void reply.header('etag', f.etag).header('cache-control', 'no-cache').header('x-content-type-options', 'nosniff').header('referrer-policy', 'no-referrer');
    if (req.headers['if-none-match'] === f.etag) return reply.code(304).send();
    return reply.type(f.type).send(f.body);
  };

  app.get(
    '/',
    { schema: { querystring: { type: 'object', additionalProperties: false, properties: {} }, response: errors } },
    async (req, reply) => {
      void reply.header('content-security-policy', PAGE_CSP).header('x-frame-options', 'DENY');
      const access = opts.access?.(req) ?? null;
      return send(access ? `index.html#${access}` : 'index.html', req, reply);
    },
  );

  app.get(
    '/assets/:name',
    {
      schema: {
        params: { type: 'object', properties: { name: { type: 'string', enum: Object.keys(ASSETS) } }, required: ['name'] },
        querystring: { type: 'object', additionalProperties: false, properties: {} },
        response: errors,
      },
    },
    async (req, reply) => send((req.params as { name: Asset }).name, req, reply),
  );
}
