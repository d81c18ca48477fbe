// Loads the native addon once. Each module that uses a native piece declares
// the shape it expects (see e.g. src/sources/*.ts) and asks for it here, so
// this file does not grow with every feature.

import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import fs from 'node:fs';
import { UserError } from '../errors.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const ADDON_PATH = path.join(root, 'build/Release/ctscope.node');

export class AddonUnavailableError extends UserError {
  constructor(message: string) {
    super(message);
  }
}

export interface CoreAddon {
  layout(): { size: number; version: number; fields: Record<string, { offset: number; size: number }> };
  enumValues(name: string, module?: string): Record<string, number> | null;
  hasFunction(name: string, module?: string): boolean;
  boottimeNs(): number;
}

let cached: unknown;

/** The addon, or AddonUnavailableError saying how to build it. */
export function loadAddon<T = CoreAddon>(): T & CoreAddon {
  if (cached) return cached as T & CoreAddon;
  if (!fs.existsSync(ADDON_PATH)) {
    throw new AddonUnavailableError(
      `native addon not built (${path.relative(process.cwd(), ADDON_PATH) || ADDON_PATH}); run 'npm run build' (needs kernel BTF, clang, libbpf-dev)`,
    );
  }
  const require = createRequire(import.meta.url);
  cached = require(ADDON_PATH);
  return cached as T & CoreAddon;
}

/** CLOCK_BOOTTIME in ns (the records' clock); falls back to the monotonic clock without the addon. */
export function boottimeNs(): number {
  try {
    return loadAddon().boottimeNs();
  } catch {
    return Number(process.hrtime.bigint());
  }
}
