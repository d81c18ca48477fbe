// The flags of every command that serves the API (run, start, replay --serve)
// and their one rule: loopback is served as it is; any other address needs
// TLS and a bearer token, or the operator's explicit --insecure-listen. The
// files are read and checked here, at start, so a wrong path or a key that
// does not match its certificate is one sentence and exit code 1, not a
// server that fails its first handshake.

import fs from 'node:fs';
import tls from 'node:tls';
import { OPENABLE_PATHS, type ApiAccess, type OpenablePath } from '../api/access.js';
import { isLoopback, type Listen } from '../app/listen.js';
import { UserError } from '../errors.js';
import { UsageError } from './args.js';

export const LISTEN_OPTIONS = {
  listen: { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'token-file': { type: 'string' },
  'no-token-for': { type: 'string' },
  'insecure-listen': { type: 'boolean' },
} as const;

export const LISTEN_USAGE = `  --tls-cert FILE --tls-key FILE
                           serve HTTPS with this PEM certificate (chain) and key
  --token-file FILE        require 'Authorization: Bearer TOKEN' on every request;
                           the file holds the token (16+ printable characters,
                           not readable by other users: openssl rand -hex 32)
  --no-token-for PATHS     answer these without the token: /healthz, /metrics
                           (comma-separated; for probes and scrapers)
  --insecure-listen        allow a non-loopback --listen without TLS and token
`;

export interface ListenFlags {
  'tls-cert'?: string | undefined;
  'tls-key'?: string | undefined;
  'token-file'?: string | undefined;
  'no-token-for'?: string | undefined;
  'insecure-listen'?: boolean | undefined;
}

const MIN_TOKEN = 16;

export function readToken(file: string): string {
  let st: fs.Stats;
  let text: string;
  try {
    st = fs.statSync(file);
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new UserError(`--token-file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  // As ssh does with keys: a secret every user can read is no secret.
  if (st.mode & 0o004) throw new UserError(`--token-file ${file} is readable by every user: chmod o-r it`);
  const token = text.replace(/\r?\n$/, '');
  if (!/^[\x21-\x7e]+$/.test(token)) throw new UserError(`--token-file ${file}: the token must be one line of printable characters without spaces`);
  if (token.length < MIN_TOKEN) throw new UserError(`--token-file ${file}: the token has ${token.length} characters, at least ${MIN_TOKEN} are needed (openssl rand -hex 32)`);
  return token;
}

function readPem(flag: string, file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    throw new UserError(`--${flag} ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

export function readTls(certFile: string, keyFile: string): { cert: Buffer; key: Buffer } {
  const cert = readPem('tls-cert', certFile);
  const key = readPem('tls-key', keyFile);
  try {
    tls.createSecureContext({ cert, key });
  } catch (e) {
    // e.g. "key values mismatch", "no start line" (not PEM)
    const why = (e as Error).message.replace(/^error:[0-9A-F]+:[^:]*::?/i, '');
    throw new UserError(`--tls-cert ${certFile} / --tls-key ${keyFile}: not a usable certificate and key (${why})`);
  }
  return { cert, key };
}

function parseOpen(text: string, command: string): OpenablePath[] {
  const out: OpenablePath[] = [];
  for (const p of text.split(',').map((s) => s.trim())) {
    if (!(OPENABLE_PATHS as readonly string[]).includes(p)) throw new UsageError(`--no-token-for: '${p}' cannot be left open; only ${OPENABLE_PATHS.join(', ')}`, command);
    out.push(p as OpenablePath);
  }
  return out;
}

/** The access rules the flags ask for, checked against where the API listens; undefined when none. */
export function apiAccess(listen: Listen, flags: ListenFlags, command: string): ApiAccess | undefined {
  const cert = flags['tls-cert'];
  const key = flags['tls-key'];
  if ((cert === undefined) !== (key === undefined)) throw new UsageError('--tls-cert and --tls-key go together', command);
  const tokenFile = flags['token-file'];
  if (flags['no-token-for'] !== undefined && tokenFile === undefined) throw new UsageError('--no-token-for needs --token-file', command);
  if (!isLoopback(listen.host) && !flags['insecure-listen'] && (cert === undefined || tokenFile === undefined)) {
    throw new UsageError(
      `--listen ${listen.host}: an address beyond loopback needs --tls-cert/--tls-key and --token-file (whoever reaches it reads every flow), or --insecure-listen to serve it plainly anyway`,
      command,
    );
  }
  const access: ApiAccess = {
    ...(cert !== undefined && key !== undefined ? { tls: readTls(cert, key) } : {}),
    ...(tokenFile !== undefined ? { token: readToken(tokenFile) } : {}),
    ...(flags['no-token-for'] !== undefined ? { open: parseOpen(flags['no-token-for'], command) } : {}),
    ...(flags['insecure-listen'] ? { insecure: true } : {}),
  };
  return access.tls || access.token ? access : undefined;
}

/** The client side (top, watch): the Authorization header for a --token-file, none without one. */
export function bearerHeaders(tokenFile: string | undefined): Record<string, string> {
  return tokenFile === undefined ? {} : { authorization: `Bearer ${readToken(tokenFile)}` };
}
