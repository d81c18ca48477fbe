// What benchmarks that drive kernel traffic share: the machine-wide
// kernel-test lock (the same atomic mkdir as test/helpers/lab.ts, so a bench
// never runs beside a kernel test), a namespace of their own, process CPU.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

export const LOCK_DIR = process.env.CTSCOPE_KERNEL_LOCK || '/run/ctscope-kernel-test.lock'; // as test/helpers/lab.ts
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Run a command, return its stdout (throws with its stderr on failure). */
export const sh = (args, input) => execFileSync(args[0], args.slice(1), { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });

/** Why this machine cannot run a kernel bench (null when it can). */
export function kernelBenchUnavailable(root, tools = ['ip', 'nft', 'conntrack']) {
  if (process.getuid?.() !== 0) return 'needs root';
  for (const t of tools) {
    try {
      execFileSync('sh', ['-c', `command -v ${t}`], { stdio: 'ignore' });
    } catch {
      return `${t} is not installed`;
    }
  }
  if (!fs.existsSync(`${root}/build/Release/ctscope.node`)) return 'addon not built (make -s all)';
  if (!fs.existsSync(`${root}/dist/app/ctscope.js`)) return 'control plane not built (make -s ts)';
  return null;
}

export async function lock() {
  for (;;) {
    try {
      fs.mkdirSync(LOCK_DIR);
      fs.writeFileSync(`${LOCK_DIR}/pid`, String(process.pid));
      return;
    } catch (e) {
      if (e.code !== 'EEXIST') throw e;
      try {
        process.kill(Number(fs.readFileSync(`${LOCK_DIR}/pid`, 'utf8')), 0);
      } catch (k) {
        if (k.code === 'ESRCH') fs.rmSync(LOCK_DIR, { recursive: true, force: true });
      }
      await sleep(200);
    }
  }
}
export const unlock = () => fs.rmSync(LOCK_DIR, { recursive: true, force: true });

/** A fresh network namespace `name` with lo up; returns a runner for commands inside it. */
export function freshNetns(name) {
  try {
    sh(['ip', 'netns', 'del', name]);
  } catch {
    /* none left over */
  }
  sh(['ip', 'netns', 'add', name]);
  const inNs = (args, input) => sh(['ip', 'netns', 'exec', name, ...args], input);
  inNs(['ip', 'link', 'set', 'lo', 'up']);
  return inNs;
}

export function deleteNetns(name) {
  try {
    sh(['ip', 'netns', 'del', name]);
  } catch {
    /* already gone */
  }
}

const CLK_TCK = Number(sh(['getconf', 'CLK_TCK']).trim()) || 100;

/** utime + stime of a process, seconds (/proc/PID/stat fields 14 and 15). */
export function procCpuSeconds(pid) {
  try {
    const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) / CLK_TCK;
  } catch {
    return NaN;
  }
}

/** Resident set size of a process, bytes. */
export function procRssBytes(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}
