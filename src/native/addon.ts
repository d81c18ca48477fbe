// Loads the native addon once, typed by its surface (surface.d.ts: every
// function and class native/*.cc exports, declared once).
//
// Where the addon comes from is node-gyp-build's lookup, the Node ecosystem's
// convention: a local build (build/Release, made by `make` in a clone) first,
// else the prebuild the package ships for this platform
// (prebuilds/linux-x64/ctscope.napi.glibc.node, N-API 8: one build serves
// every Node >= 20). The BPF objects sit beside it (bpf/.output/, compiled
// once at package time: CO-RE relocates them on the running kernel).

import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import fs from 'node:fs';
import { UserError } from '../errors.js';
import type { Addon } from './surface.js';

const require = createRequire(import.meta.url);
const nodeGypBuild = require('node-gyp-build') as { resolve(dir: string): string };

/** The package root: the clone, or the installed package. */
export const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const LOCAL_BUILD = path.join(PACKAGE_ROOT, 'build/Release/ctscope.node');

function resolveAddon(): string {
  try {
    return nodeGypBuild.resolve(PACKAGE_ROOT);
  } catch {
    return LOCAL_BUILD; // neither exists: the error below names the build
  }
}

/** The addon file this process loads (it may not exist: see loadAddon). */
export const ADDON_PATH = resolveAddon();

/** Path of a compiled BPF object by its source name ('drops' -> bpf/.output/drops.bpf.o). */
export function bpfObjectPath(name: string): string {
  return path.join(PACKAGE_ROOT, 'bpf/.output', `${name}.bpf.o`);
}

export class AddonUnavailableError extends UserError {
  constructor(message: string) {
    super(message);
  }
}

let cached: unknown;

/** The addon, or AddonUnavailableError saying how to get one. */
export function loadAddon(): Addon {
  if (cached) return cached as Addon;
  if (!fs.existsSync(ADDON_PATH)) {
    throw new AddonUnavailableError(
      `no native addon for ${process.platform}-${process.arch}: neither a prebuilt one (prebuilds/) nor a local build (${path.relative(process.cwd(), LOCAL_BUILD) || LOCAL_BUILD}); from a clone run 'npm run build' (needs kernel BTF, clang, libbpf-dev)`,
    );
  }
  try {
    cached = require(ADDON_PATH);
  } catch (e) {
    // Typically a shared library the prebuild links against is missing.
    const why = ((e as Error).message.split('\n')[0] ?? '').replace(`${ADDON_PATH}: `, '');
    throw new AddonUnavailableError(`cannot load the native addon ${ADDON_PATH} (${why}); it needs Debian's libbpf1 and libelf1 (apt-get install libbpf1 libelf1)`);
  }
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
