// The kernel-matrix harness: boots a Debian kernel package under
// qemu (TCG), shares this machine's root tree read-only over 9p, chroots into
// it and runs one command there, so this machine's own node, build outputs
// and tools run against the guest kernel. Results come back through a second,
// writable 9p share (the run directory) and serial-console markers.
//
// Why TCG: /dev/kvm exists on the build machines but hangs when used.
// Why a 9p root instead of a disk image: nothing to build or keep in sync;
// the guest sees exactly the tree under test.
//
// Used by test/guest/*.test.ts and by scripts/guest/run.mjs (CLI).

import { spawn, execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const CACHE_DIR = path.join(ROOT, '.cache/guest');
export const KERNELS_FILE = path.join(ROOT, 'scripts/guest/kernels.txt');

/** Modules the guest loads at boot, before the command runs (dependencies are added). */
export const BOOT_MODULES = [
  // the root and results shares
  'virtio_pci', '9pnet_virtio', '9p',
  // conntrack and what the tests drive it with
  'nf_conntrack', 'nf_conntrack_netlink', 'nf_tables', 'nft_ct', 'nf_nat', 'nft_chain_nat', 'nft_nat',
  'nft_reject_inet', 'veth', 'sch_ingress', 'cls_bpf', 'nfnetlink_log',
];

/**
 * Directories of modules copied into the initramfs (besides the closure of
 * BOOT_MODULES) so the kernel can autoload them through busybox modprobe,
 * e.g. nft expressions on first use.
 */
const AUTOLOAD_DIRS = ['kernel/net/netfilter', 'kernel/net/ipv4/netfilter', 'kernel/net/ipv6/netfilter', 'kernel/net/sched', 'kernel/crypto'];

/** Bumped when the initramfs layout or init script changes: forces a rebuild. */
const INITRAMFS_VERSION = 6;

const BEGIN = '@@CTSCOPE-GUEST:BEGIN@@';
const EXIT_RE = /@@CTSCOPE-GUEST:EXIT (\d+)@@/;
const FAIL_RE = /@@CTSCOPE-GUEST:FAIL (.*)@@/;

export class GuestError extends Error {
  /** @param {string} message @param {string} [consoleTail] */
  constructor(message, consoleTail) {
    super(consoleTail ? `${message}\n--- guest console (tail) ---\n${consoleTail}` : message);
    this.name = 'GuestError';
  }
}

function which(cmd) {
  try {
    return execFileSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
}

/** Whether this machine can run guests; `why` names what is missing and how to get it. */
export function guestSupport() {
  if (process.platform !== 'linux' || process.arch !== 'x64') return { ok: false, kind: 'machine', why: 'the guest matrix needs an x86_64 Linux host' };
  const missing = [];
  if (!which('qemu-system-x86_64')) missing.push('qemu-system-x86');
  if (!fs.existsSync('/bin/busybox') || !isStatic('/bin/busybox')) missing.push('busybox-static');
  if (!which('cpio')) missing.push('cpio');
  if (!which('apt-get') || !which('dpkg-deb')) return { ok: false, kind: 'machine', why: 'the guest kernels come from Debian packages: the host needs apt-get and dpkg-deb' };
  if (!which('depmod')) missing.push('kmod');
  if (missing.length) return { ok: false, kind: 'setup', why: `missing ${missing.join(', ')} (install with: scripts/setup.sh --test, as root)` };
  if (process.getuid?.() !== 0) return { ok: false, kind: 'machine', why: 'the guest shares / read-only over 9p and needs root to read all of it' };
  return { ok: true };
}

function isStatic(file) {
  try {
    return !execFileSync('file', ['-L', file], { encoding: 'utf8' }).includes('dynamically linked');
  } catch {
    // no `file` tool: Debian's busybox-static diverts /bin/busybox, busybox (dynamic) does not
    return fs.existsSync('/usr/share/doc/busybox-static');
  }
}

/** The packages of scripts/guest/kernels.txt (one per line, # comments). */
export function kernelPackages(file = KERNELS_FILE) {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .map((l) => l.replace(/#.*/, '').trim())
    .filter(Boolean);
}

/**
 * A meta package (linux-image-amd64) -> the versioned package it depends on
 * (linux-image-6.1.0-NN-amd64). A versioned name is returned as is.
 */
export function resolvePackage(pkg) {
  if (!/^[a-z0-9][a-z0-9.+-]*$/.test(pkg)) throw new GuestError(`bad kernel package name '${pkg}'`);
  if (/^linux-image-\d/.test(pkg)) return pkg;
  let out;
  try {
    out = execFileSync('apt-cache', ['depends', '--important', pkg], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    throw new GuestError(`cannot resolve kernel package '${pkg}': apt-cache depends failed (${String(err.stderr || err.message).trim()}); run apt-get update`);
  }
  const dep = out.match(/Depends:\s*(linux-image-\d[^\s]*)/);
  if (!dep) throw new GuestError(`'${pkg}' does not depend on a versioned linux-image package (apt-cache depends: ${out.trim()})`);
  return dep[1];
}

function log(opts, msg) {
  opts?.log?.(`guest: ${msg}`);
}

/**
 * Fetches (apt-get download), extracts (dpkg-deb -x), indexes (depmod) the
 * kernel package and builds its initramfs, all cached under .cache/guest/.
 * @returns {{ pkg: string, release: string, dir: string, vmlinuz: string, initramfs: string, modules: string[] }}
 */
export function prepareKernel(kernel, opts = {}) {
  const pkg = resolvePackage(kernel);
  fs.mkdirSync(path.join(CACHE_DIR, 'debs'), { recursive: true });
  // keep the cache out of git without touching the project's .gitignore
  const ignore = path.join(ROOT, '.cache/.gitignore');
  if (!fs.existsSync(ignore)) fs.writeFileSync(ignore, '*\n');

  const dir = path.join(CACHE_DIR, 'k', pkg);
  // a trimmed tree (module files deleted once the initramfs held them) is
  // extracted again when a new initramfs version needs the modules
  const stale = fs.existsSync(path.join(dir, '.trimmed')) && !fs.existsSync(path.join(dir, `initramfs-v${INITRAMFS_VERSION}.cpio`));
  if (stale || !fs.existsSync(path.join(dir, '.extracted'))) {
    const debDir = path.join(CACHE_DIR, 'debs');
    let deb = fs.readdirSync(debDir).find((f) => f.startsWith(`${pkg}_`) && f.endsWith('.deb'));
    if (!deb) {
      log(opts, `apt-get download ${pkg}`);
      try {
        execFileSync('apt-get', ['download', '-q', pkg], { cwd: debDir, stdio: ['ignore', 'pipe', 'pipe'] });
      } catch (err) {
        throw new GuestError(`apt-get download ${pkg} failed: ${String(err.stderr || err.message).trim()}`);
      }
      deb = fs.readdirSync(debDir).find((f) => f.startsWith(`${pkg}_`) && f.endsWith('.deb'));
      if (!deb) throw new GuestError(`apt-get download ${pkg} produced no .deb in ${debDir}`);
    }
    const tmp = `${dir}.tmp${process.pid}`;
    fs.rmSync(tmp, { recursive: true, force: true });
    fs.mkdirSync(tmp, { recursive: true });
    log(opts, `extracting ${deb}`);
    execFileSync('dpkg-deb', ['-x', path.join(debDir, deb), tmp]);
    const release = onlyRelease(tmp, pkg);
    // Debian's package ships no modules.dep: depmod writes it at install time.
    execFileSync('depmod', ['-b', tmp, release]);
    fs.writeFileSync(path.join(tmp, '.extracted'), `${deb}\n`);
    fs.rmSync(dir, { recursive: true, force: true });
    fs.renameSync(tmp, dir);
  }
  const release = onlyRelease(dir, pkg);
  const vmlinuz = path.join(dir, 'boot', `vmlinuz-${release}`);
  if (!fs.existsSync(vmlinuz)) throw new GuestError(`${pkg} has no boot/vmlinuz-${release}`);
  const modDir = path.join(dir, 'lib/modules', release);
  const modules = moduleLoadOrder(modDir, BOOT_MODULES);
  const initramfs = path.join(dir, `initramfs-v${INITRAMFS_VERSION}.cpio`);
  if (!fs.existsSync(initramfs)) {
    log(opts, `building initramfs for ${release}`);
    buildInitramfs({ modDir, release, modules, out: initramfs });
    for (const f of fs.readdirSync(dir)) if (/^initramfs-v\d+\.cpio$/.test(f) && path.join(dir, f) !== initramfs) fs.rmSync(path.join(dir, f));
    // the ~400 MB of modules are in the initramfs (and the cached .deb) now;
    // the module indexes stay for moduleLoadOrder
    fs.rmSync(path.join(modDir, 'kernel'), { recursive: true, force: true });
    fs.writeFileSync(path.join(dir, '.trimmed'), '');
  }
  return { pkg, release, dir, vmlinuz, initramfs, modules };
}

function onlyRelease(dir, pkg) {
  const mods = path.join(dir, 'lib/modules');
  const releases = fs.existsSync(mods) ? fs.readdirSync(mods) : [];
  if (releases.length !== 1) throw new GuestError(`${pkg}: expected one lib/modules/<release>, found ${releases.length}`);
  return releases[0];
}

/** name (dashes or underscores) -> path relative to the modules dir, for every module. */
function moduleIndex(modDir) {
  const dep = new Map();
  const byName = new Map();
  for (const line of fs.readFileSync(path.join(modDir, 'modules.dep'), 'utf8').split('\n')) {
    const m = line.match(/^([^:]+):\s*(.*)$/);
    if (!m) continue;
    const file = m[1];
    dep.set(file, m[2] ? m[2].split(/\s+/) : []);
    byName.set(modName(file), file);
  }
  const builtin = new Set(
    fs
      .readFileSync(path.join(modDir, 'modules.builtin'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map(modName),
  );
  // softdeps name aliases (libcrc32c -> pre: crc32c); resolve through modules.alias
  const alias = new Map();
  for (const line of fs.readFileSync(path.join(modDir, 'modules.alias'), 'utf8').split('\n')) {
    const m = line.match(/^alias\s+(\S+)\s+(\S+)$/);
    if (m && !alias.has(m[1])) alias.set(m[1], m[2].replace(/-/g, '_'));
  }
  const softPre = new Map();
  for (const line of fs.readFileSync(path.join(modDir, 'modules.softdep'), 'utf8').split('\n')) {
    const m = line.match(/^softdep\s+(\S+)\s+pre:\s+(.*)$/);
    if (m) softPre.set(m[1].replace(/-/g, '_'), m[2].split(/\s+/).filter((s) => s && !s.endsWith(':')));
  }
  return { dep, byName, builtin, alias, softPre };
}

function modName(file) {
  return path.basename(file).replace(/\.ko(\.[a-z]+)?$/, '').replace(/-/g, '_');
}

/**
 * The insmod order for `wanted` (module names): dependencies first, from
 * modules.dep, plus soft pre-dependencies; built-in modules are skipped.
 */
export function moduleLoadOrder(modDir, wanted) {
  const idx = moduleIndex(modDir);
  const order = [];
  const seen = new Set();
  const visit = (name, required) => {
    const n = name.replace(/-/g, '_');
    if (idx.builtin.has(n)) return;
    let file = idx.byName.get(n);
    if (!file && idx.alias.has(n)) file = idx.byName.get(idx.alias.get(n));
    if (!file) {
      if (required) throw new GuestError(`module '${name}' is neither in modules.dep nor built in (${modDir})`);
      return;
    }
    if (seen.has(file)) return;
    seen.add(file);
    for (const pre of idx.softPre.get(modName(file)) ?? []) visit(pre, false);
    for (const d of idx.dep.get(file) ?? []) visit(modName(d), true);
    order.push(file);
  };
  for (const w of wanted) visit(w, true);
  return order;
}

const INIT = `#!/bin/busybox sh
# ctscope guest init: load modules, mount the host root (read-only) and the
# run directory (writable) over 9p, chroot, run cmd.sh, power off.
/bin/busybox --install -s /bin
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
fail() { echo "@@CTSCOPE-GUEST:FAIL $*@@"; poweroff -f; sleep 10; }
rel=$(uname -r)
while read -r m; do
  insmod "/lib/modules/$rel/$m" 2>/tmp/insmod.err || case "$m" in
    */crypto/*|*/arch/*) ;;   # soft dependencies: a CPU may lack the optimised variant
    *) echo "ctscope-guest: insmod $m: $(cat /tmp/insmod.err)" ;;
  esac
done < /modules.load
run=$(sed -n 's/.*ctscope_run=\\([^ ]*\\).*/\\1/p' /proc/cmdline)
[ -n "$run" ] || fail "no ctscope_run= on the kernel command line"
# the guest powers itself off even if the host process that started it died
tmo=$(sed -n 's/.*ctscope_timeout=\\([0-9]*\\).*/\\1/p' /proc/cmdline)
[ -n "$tmo" ] && (sleep "$tmo"; echo "@@CTSCOPE-GUEST:FAIL watchdog: still running after $tmo s@@"; poweroff -f) &
ip link set lo up
mkdir -p /host
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=loose,ro hostroot /host || fail "mount of the host root (9p) failed"
# a second view of it that the tmpfs mounts below do not cover
mkdir -p /hostview
mount -o bind /host /hostview || fail "bind of the host root failed"
mount -t proc proc /host/proc
mount -t sysfs sys /host/sys
mount -t devtmpfs dev /host/dev
mkdir -p /host/dev/pts /host/dev/shm
mount -t devpts devpts /host/dev/pts
mount -t tmpfs tmpfs /host/dev/shm
mount -t tmpfs tmpfs /host/tmp
mount -t tmpfs tmpfs /host/run
mount -t tmpfs tmpfs /host/var/tmp
# The project may live under a directory those tmpfs mounts hide (a clone in
# /tmp): show it again at its path from a second view of the host root.
proj=$(sed -n 's/.*ctscope_root=\\([^ ]*\\).*/\\1/p' /proc/cmdline)
if [ -n "$proj" ] && [ ! -d "/host$proj" ]; then
  mkdir -p "/host$proj"
  mount -o bind "/hostview$proj" "/host$proj" || fail "bind of $proj failed"
fi
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 results "/host$run" || fail "mount of the run directory (9p) failed"
mount -t bpf bpf /host/sys/fs/bpf
mount -t tracefs tracefs /host/sys/kernel/tracing 2>/dev/null
mount -t debugfs debugfs /host/sys/kernel/debug 2>/dev/null
echo "${BEGIN}"
chroot /host /bin/sh "$run/cmd.sh"
rc=$?
echo "$rc" > "/host$run/exit-code"
sync
echo "@@CTSCOPE-GUEST:EXIT $rc@@"
poweroff -f
`;

function buildInitramfs({ modDir, release, modules, out }) {
  const tmp = `${out}.d${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  for (const d of ['bin', 'sbin', 'proc', 'sys', 'dev', 'tmp', 'host', `lib/modules/${release}`]) fs.mkdirSync(path.join(tmp, d), { recursive: true });
  fs.copyFileSync('/bin/busybox', path.join(tmp, 'bin/busybox'));
  fs.chmodSync(path.join(tmp, 'bin/busybox'), 0o755);
  fs.writeFileSync(path.join(tmp, 'init'), INIT, { mode: 0o755 });
  fs.writeFileSync(path.join(tmp, 'modules.load'), modules.join('\n') + '\n');
  // The boot closure plus whole netfilter/sched/crypto trees, so that the
  // kernel's request_module (-> busybox modprobe) finds what it autoloads.
  const files = new Set(modules);
  for (const d of AUTOLOAD_DIRS) {
    const abs = path.join(modDir, d);
    if (!fs.existsSync(abs)) continue;
    for (const f of fs.readdirSync(abs, { recursive: true })) if (String(f).endsWith('.ko')) files.add(path.join(d, String(f)));
  }
  const closure = moduleLoadOrder(modDir, [...files].map(modName));
  for (const f of closure) files.add(f);
  const target = path.join(tmp, 'lib/modules', release);
  for (const f of files) {
    fs.mkdirSync(path.dirname(path.join(target, f)), { recursive: true });
    fs.copyFileSync(path.join(modDir, f), path.join(target, f));
  }
  for (const f of ['modules.dep', 'modules.alias', 'modules.softdep', 'modules.builtin', 'modules.order', 'modules.symbols']) {
    if (fs.existsSync(path.join(modDir, f))) fs.copyFileSync(path.join(modDir, f), path.join(target, f));
  }
  // uncompressed: unpacking gzip under TCG costs more than reading the bytes
  execFileSync('sh', ['-c', `cd '${tmp}' && find . -print0 | cpio --null -o -H newc --quiet > '${out}.tmp' && mv '${out}.tmp' '${out}'`]);
  fs.rmSync(tmp, { recursive: true, force: true });
}

function shellQuote(s) {
  return `'${String(s).replace(/'/g, `'\\''`)}'`;
}

/**
 * Boots `kernel` (a package name from kernels.txt) and runs `command`
 * (a shell command line) in this machine's root tree, chrooted, in `cwd`
 * (default: the project root). The command finds a writable directory in
 * $CTSCOPE_GUEST_OUT; a results.json written there is parsed into `results`.
 *
 * `snapshot` lists paths (relative to the project root) copied when the run
 * starts and bind-mounted over the originals in the guest, so a rebuild on
 * the host during the run (others share the tree) cannot pull the addon or
 * the BPF objects from under it.
 *
 * @param {{ kernel: string, command: string, timeoutMs?: number, cwd?: string, snapshot?: string[],
 *           env?: Record<string,string>, memoryMb?: number, cpus?: number,
 *           log?: (line: string) => void, onConsole?: (chunk: string) => void }} opts
 * @returns {Promise<{ exitCode: number, output: string, console: string, results: unknown,
 *           outDir: string, release: string, pkg: string, bootMs: number, durationMs: number }>}
 */
export async function runInGuest(opts) {
  const support = guestSupport();
  if (!support.ok) throw new GuestError(`cannot run a guest: ${support.why}`);
  if (!opts.command) throw new GuestError('runInGuest: no command');
  const timeoutMs = opts.timeoutMs ?? 180_000;
  const k = prepareKernel(opts.kernel, opts);
  const runDir = path.join(CACHE_DIR, 'runs', `${Date.now()}-${crypto.randomBytes(4).toString('hex')}`);
  const outDir = path.join(runDir, 'out');
  fs.mkdirSync(outDir, { recursive: true });
  const env = { HOME: '/tmp', PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8', CTSCOPE_GUEST: k.release, CTSCOPE_GUEST_OUT: outDir, ...opts.env };
  const binds = [];
  for (const rel of opts.snapshot ?? []) {
    const src = path.resolve(ROOT, rel);
    if (!src.startsWith(`${ROOT}/`)) throw new GuestError(`snapshot path '${rel}' is outside the project`);
    if (!fs.existsSync(src)) throw new GuestError(`snapshot path '${rel}' does not exist (build first: npm run build)`);
    const copy = path.join(runDir, 'snap', path.relative(ROOT, src));
    fs.mkdirSync(path.dirname(copy), { recursive: true });
    fs.cpSync(src, copy, { recursive: true });
    binds.push(`mount --bind ${shellQuote(copy)} ${shellQuote(src)} || exit 125`);
  }
  const script = [
    ...binds,
    ...Object.entries(env).map(([key, v]) => `export ${key}=${shellQuote(v)}`),
    `cd ${shellQuote(opts.cwd ?? ROOT)} || exit 125`,
    `exec 2>&1`,
    opts.command,
    '',
  ].join('\n');
  fs.writeFileSync(path.join(runDir, 'cmd.sh'), script);

  const args = [
    '-accel', 'tcg', '-cpu', 'max', '-smp', String(opts.cpus ?? 2), '-m', String(opts.memoryMb ?? 2048),
    '-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot', '-serial', 'stdio', '-monitor', 'none',
    '-kernel', k.vmlinuz, '-initrd', k.initramfs,
    '-append', `console=ttyS0 quiet loglevel=3 panic=-1 ctscope_run=${runDir} ctscope_root=${ROOT} ctscope_timeout=${Math.ceil(timeoutMs / 1000) + 10}`,
    '-virtfs', 'local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap',
    '-virtfs', `local,path=${runDir},mount_tag=results,security_model=none`,
  ];
  log(opts, `booting ${k.release} (${k.pkg}) for: ${opts.command}`);
  const started = Date.now();
  const child = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let consoleText = '';
  let stderr = '';
  let bootMs = 0;
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk) => {
    consoleText += chunk.replace(/\r/g, '');
    if (!bootMs && consoleText.includes(BEGIN)) bootMs = Date.now() - started;
    opts.onConsole?.(chunk);
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (c) => (stderr += c));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, timeoutMs);
  // a test runner exiting (e.g. on its own timeout) takes the guest with it
  const reap = () => child.kill('SIGKILL');
  process.once('exit', reap);
  const { code, signal } = await new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (c, s) => resolve({ code: c, signal: s }));
  }).finally(() => {
    clearTimeout(timer);
    process.removeListener('exit', reap);
  });
  const durationMs = Date.now() - started;
  fs.rmSync(path.join(runDir, 'snap'), { recursive: true, force: true });
  const tail = consoleText.split('\n').slice(-40).join('\n');

  if (timedOut) throw new GuestError(`guest ${k.release} timed out after ${timeoutMs} ms (${bootMs ? 'command was running' : 'still booting'}): ${opts.command}`, tail);
  const fail = consoleText.match(FAIL_RE);
  if (fail) throw new GuestError(`guest ${k.release} init failed: ${fail[1]}`, tail);
  if (!bootMs) throw new GuestError(`guest ${k.release} did not reach the command (qemu exit ${code ?? signal}${stderr ? `: ${stderr.trim()}` : ''})`, tail);
  const exit = consoleText.match(EXIT_RE);
  let exitCode = exit ? Number(exit[1]) : NaN;
  if (!exit) {
    const f = path.join(runDir, 'exit-code');
    if (fs.existsSync(f)) exitCode = Number(fs.readFileSync(f, 'utf8').trim());
    else throw new GuestError(`guest ${k.release} stopped before the command finished (qemu exit ${code ?? signal}); a kernel panic or OOM?`, tail);
  }
  const begin = consoleText.indexOf(BEGIN) + BEGIN.length;
  const end = exit ? consoleText.indexOf(exit[0]) : consoleText.length;
  const output = consoleText.slice(begin, end).replace(/^\n/, '');
  let results = null;
  const resultsFile = path.join(outDir, 'results.json');
  if (fs.existsSync(resultsFile)) {
    try {
      results = JSON.parse(fs.readFileSync(resultsFile, 'utf8'));
    } catch (err) {
      throw new GuestError(`guest wrote an unreadable ${resultsFile}: ${err.message}`, tail);
    }
  }
  pruneRuns(opts.keepRuns ?? 8);
  return { exitCode, output, console: consoleText, results, outDir, release: k.release, pkg: k.pkg, bootMs, durationMs };
}

/** Keeps the newest `keep` run directories. */
function pruneRuns(keep) {
  const runs = path.join(CACHE_DIR, 'runs');
  const dirs = fs.readdirSync(runs).sort();
  for (const d of dirs.slice(0, Math.max(0, dirs.length - keep))) fs.rmSync(path.join(runs, d), { recursive: true, force: true });
}
