// Types of harness.mjs for the TypeScript tests that drive guests.
export declare const ROOT: string;
export declare const CACHE_DIR: string;
export declare const KERNELS_FILE: string;
export declare const BOOT_MODULES: string[];

export declare class GuestError extends Error {
  constructor(message: string, consoleTail?: string);
}

/** As scripts/test-tiers.mjs's Requirement: 'machine' cannot, 'setup' is provided by scripts/setup.sh --test. */
export interface GuestSupport {
  ok: boolean;
  why?: string;
  kind?: 'machine' | 'setup';
}

export interface PreparedKernel {
  /** The versioned package, e.g. linux-image-6.1.0-56-amd64. */
  pkg: string;
  /** uname -r of the guest, e.g. 6.1.0-56-amd64. */
  release: string;
  /** The extracted package. */
  dir: string;
  vmlinuz: string;
  initramfs: string;
  /** insmod order of the boot modules (paths relative to lib/modules/<release>). */
  modules: string[];
}

export interface RunInGuestOptions {
  /** A package of scripts/guest/kernels.txt (meta or versioned). */
  kernel: string;
  /** A shell command line, run as root in this machine's root tree (read-only), chrooted. */
  command: string;
  /** Whole run, boot included (default 180 000). */
  timeoutMs?: number;
  /** Working directory in the guest (default: the project root). */
  cwd?: string;
  /** Project paths copied at start and bind-mounted over the originals in the guest. */
  snapshot?: string[];
  env?: Record<string, string>;
  memoryMb?: number;
  cpus?: number;
  keepRuns?: number;
  log?: (line: string) => void;
  onConsole?: (chunk: string) => void;
}

export interface GuestRun {
  exitCode: number;
  /** What the command printed (stdout and stderr). */
  output: string;
  /** The whole serial console. */
  console: string;
  /** $CTSCOPE_GUEST_OUT/results.json, parsed, or null. */
  results: unknown;
  /** The host path of $CTSCOPE_GUEST_OUT. */
  outDir: string;
  release: string;
  pkg: string;
  /** qemu start -> the command starting. */
  bootMs: number;
  durationMs: number;
}

export declare function guestSupport(): GuestSupport;
export declare function kernelPackages(file?: string): string[];
export declare function resolvePackage(pkg: string): string;
export declare function prepareKernel(kernel: string, opts?: { log?: (line: string) => void }): PreparedKernel;
export declare function moduleLoadOrder(modDir: string, wanted: string[]): string[];
export declare function runInGuest(opts: RunInGuestOptions): Promise<GuestRun>;
