// Issue 14: the package a user installs. `npm pack` ships dist/, the prebuilt
// addon, the BPF objects and share/ and nothing of the tests; `npm install -g`
// of the tarball into a fresh prefix, on a machine made compiler-less (a mount
// namespace hiding every compiler, header and make), compiles nothing and
// gives a ctscope whose doctor, replay, top and live daemon work — the daemon
// attributing a real table-full flood with the kernel's own count.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DaemonProcess } from '../helpers/daemon.js';
import { TableFullFlood } from '../helpers/flood.js';
import { Lab, kernelTier } from '../helpers/lab.js';
import { withoutToolchain } from '../helpers/no-toolchain.js';
import { packTarball } from '../helpers/package.js';
import { holdKernelLockForSuite } from './netlink-lab.js';
import { cannotRun } from '../helpers/requires.js';

const skip = cannotRun(kernelTier());

describe.skipIf(skip)('package: npm pack, then npm install -g where no compiler exists', () => {
  let tmp: string;
  let tgz: string;
  let prefix: string;
  let pkgDir: string;
  const ctscope = () => withoutToolchain([path.join(prefix, 'bin/ctscope')]);
  const inside = (args: string[], input?: string) => {
    const [cmd, ...rest] = withoutToolchain(args);
    return spawnSync(cmd!, rest, { encoding: 'utf8', input, timeout: 120_000 });
  };

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ctscope-pkg-'));
    tgz = packTarball(tmp);
    prefix = path.join(tmp, 'prefix');
    pkgDir = path.join(prefix, 'lib/node_modules/ctscope');
  }, 300_000);

  afterAll(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('packs dist/, the prebuilt addon, the BPF objects and share/, and no tests or sources', () => {
    const files = execFileSync('tar', ['tzf', tgz], { encoding: 'utf8' }).trim().split('\n').map((f) => f.replace(/^package\//, ''));
    for (const f of [
      'bin/ctscope.js',
      'dist/cli/main.js',
      'prebuilds/linux-x64/ctscope.napi.glibc.node',
      'bpf/.output/drops.bpf.o',
      'bpf/.output/lifecycle.bpf.o',
      'bpf/.output/ingress.bpf.o',
      'share/sample.ctcap',
      'share/prometheus/ctscope-alerts.yml',
      'share/systemd/ctscope.service',
      'package.json',
      'README.md',
    ]) {
      expect(files, f).toContain(f);
    }
    const unwanted = files.filter((f) => /^(test|src|bench|web|deploy|packaging)\//.test(f) || /^scripts\/(?!install\.mjs$)/.test(f) || f.endsWith('.map') || /\.test\.ts$/.test(f));
    expect(unwanted).toEqual([]);
    // The BPF objects carry their BTF (CO-RE relocates them on the running kernel), not DWARF.
    const x = path.join(tmp, 'x');
    fs.mkdirSync(x);
    execFileSync('tar', ['xzf', tgz, '-C', x]);
    const sections = execFileSync('readelf', ['-S', '-W', path.join(x, 'package/bpf/.output/lifecycle.bpf.o')], { encoding: 'utf8' });
    expect(sections).toMatch(/\s\.BTF\s/);
    expect(sections).toMatch(/\s\.BTF\.ext\s/);
    expect(sections).not.toMatch(/\.debug_info/);
    // The prebuild needs nothing but runtime libraries Debian installs with iproute2 (and libc/libstdc++).
    const needed = [...execFileSync('readelf', ['-d', path.join(x, 'package/prebuilds/linux-x64/ctscope.napi.glibc.node')], { encoding: 'utf8' }).matchAll(/Shared library: \[(.+?)\]/g)].map((m) => m[1]);
    expect(needed.filter((l) => !/^(lib(bpf\.so\.1|elf\.so\.1|z\.so\.1|stdc\+\+\.so\.6|m\.so\.6|gcc_s\.so\.1|c\.so\.6)|ld-linux-x86-64\.so\.2)$/.test(l!))).toEqual([]);
  });

  it('installs into a fresh prefix where no compiler, header or make exists, building nothing', () => {
    // The namespace really is compiler-less: the compiler the clone's build uses cannot run there.
    const cc = inside(['sh', '-c', 'echo "int main(void){return 0;}" | /usr/bin/gcc-12 -x c - -o /dev/null || echo REFUSED']);
    expect(cc.stdout + cc.stderr).toMatch(/REFUSED/);
    const r = inside(['npm', 'install', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', tgz]);
    expect(r.status, r.stderr).toBe(0);
    expect(fs.existsSync(path.join(pkgDir, 'build')), 'nothing was compiled into build/').toBe(false);
    const v = inside([path.join(prefix, 'bin/ctscope'), '--version']);
    expect(v.stdout.trim()).toBe(JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8')).version);
  }, 180_000);

  it('doctor loads the prebuilt addon and the shipped objects', () => {
    const r = inside([path.join(prefix, 'bin/ctscope'), 'doctor', '--json']);
    expect(r.status, r.stderr).toBe(0);
    const doctor = JSON.parse(r.stdout);
    expect(doctor.addon.path).toBe(path.join(pkgDir, 'prebuilds/linux-x64/ctscope.napi.glibc.node'));
    expect(doctor.problems).toEqual([]);
    const chosen = Object.fromEntries((doctor.capabilities as Array<{ capability: string; chosen: string | null }>).map((c) => [c.capability, c.chosen]));
    expect(chosen.drops).toBe('tp_btf:kfree_skb'); // drops.bpf.o loaded and attached on this kernel
    expect(chosen.ingress).not.toBeNull(); // ingress.bpf.o loaded
    expect(chosen.destroy).not.toBeNull();
  }, 60_000);

  it('replays the bundled sample capture', () => {
    const r = inside([path.join(prefix, 'bin/ctscope'), 'replay', path.join(pkgDir, 'share/sample.ctcap'), '--report', 'json']);
    expect(r.status, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.records.drops).toBeGreaterThan(0);
    expect(report.partial.partial).toBe(false);
  }, 60_000);

  describe('under the kernel lock', () => {
    holdKernelLockForSuite();

    it('runs the daemon: a table-full flood attributed with the kernel count, and top reads it', async () => {
      const lab = await Lab.create('ctpkg');
      let daemon: DaemonProcess | undefined;
      try {
        const flood = await TableFullFlood.prepare(lab);
        daemon = await DaemonProcess.start([], 30_000, ctscope());
        await flood.run();
        await flood.expectAttributed((p) => daemon!.get(p));
        const top = inside([path.join(prefix, 'bin/ctscope'), 'top', '--once', '--url', daemon.base]);
        expect(top.status, top.stderr).toBe(0);
        expect(top.stdout).toContain(flood.flooder);
        expect(await daemon.stop()).toBe(0);
      } finally {
        await daemon?.kill9();
        await lab.destroy();
      }
    }, 180_000);
  });
});
