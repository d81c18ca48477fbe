// Command-line parsing shared by every subcommand: node's parseArgs with our
// error type, so a wrong flag is one line on stderr and exit code 2, never a
// stack trace.

import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { Listen } from '../app/listen.js';
import { UserError } from '../errors.js';

/** A wrong command line: exit code 2, and the command's --help is named. */
export class UsageError extends UserError {
  constructor(
    message: string,
    readonly command?: string,
  ) {
    super(message, 2);
  }
}

export function parse<T extends ParseArgsConfig['options']>(
  command: string,
  argv: string[],
  options: T,
  allowPositionals = false,
) {
  try {
    return parseArgs({ args: argv, options, allowPositionals, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message.replace(/^TypeError \[[A-Z_]+\]: /, ''), command);
  }
}

export type { Listen } from '../app/listen.js';

/** HOST:PORT, [v6]:PORT or PORT; loopback when only a port is given. */
export function parseListen(text: string): Listen {
  let host = '127.0.0.1';
  let port: string;
  const v6 = /^\[([^\]]+)\]:(\d+)$/.exec(text);
  if (v6) {
    host = v6[1]!;
    port = v6[2]!;
  } else if (/^\d+$/.test(text)) {
    port = text;
  } else {
    const i = text.lastIndexOf(':');
    if (i <= 0) throw new UsageError(`--listen expects HOST:PORT, got '${text}'`);
    host = text.slice(0, i);
    port = text.slice(i + 1);
  }
  const n = Number(port);
  if (!/^\d+$/.test(port) || n < 1 || n > 65535) throw new UsageError(`--listen: port must be 1..65535, got '${port}'`);
  return { host, port: n };
}

/** A positive integer flag within bounds. */
export function parseIntFlag(name: string, text: string | undefined, def: number, min: number, max: number): number {
  if (text === undefined) return def;
  if (!/^\d+$/.test(text)) throw new UsageError(`--${name} expects an integer, got '${text}'`);
  const n = Number(text);
  if (n < min || n > max) throw new UsageError(`--${name} must be between ${min} and ${max}, got ${n}`);
  return n;
}
