// Loads the native addon once, typed by its surface (surface.d.ts: every
// function and class native/*.cc exports, declared once).

import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import fs from 'node:fs';
import { UserError } from '../errors.js';
import type { Addon } from './surface.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const ADDON_PATH = path.join(root, 'build/Release/ctscope.node');

export class AddonUnavailableError extends UserError {
  constructor(message: string) {
    super(message);
  }
}

let cached: unknown;

/** The addon, or AddonUnavailableError saying how to build it. */
export function loadAddon(): Addon {
  if (cached) return cached as Addon;
  if (!fs.existsSync(ADDON_PATH)) {
    throw new AddonUnavailableError(
      `native addon not built (${path.relative(process.cwd(), ADDON_PATH) || ADDON_PATH}); run 'npm run build' (needs kernel BTF, clang, libbpf-dev)`,
    );
  }
  const require = createRequire(import.meta.url);
  cached = require(ADDON_PATH);
  return cached as Addon;
}

/** CLOCK_BOOTTIME in ns (the records' clock); falls back to the monotonic clock without the addon. */
export function boottimeNs(): number {
  try {
    return loadAddon().boottimeNs();
  } catch {
    return Number(process.hrtime.bigint());
  }
}
