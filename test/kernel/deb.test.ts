// Issue 14: the Debian package (packaging/deb/build.sh, dpkg-deb). Built from
// the npm tarball, inspected, then installed for real with `dpkg -i` into a
// scratch root made of this machine (an overlay: the host is untouched):
// the `ctscope` user exists, the unit passes `systemd-analyze verify` where
// /usr/bin/ctscope exists, and the daemon run as that user with the unit's
// own AmbientCapabilities attributes a table-full flood with the kernel's
// count. `dpkg -r` removes it again.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withCapabilities } from '../../scripts/lib/setpriv.mjs';
import { DAEMON_CAPABILITIES } from '../../src/privileges.js';
import { DaemonProcess } from '../helpers/daemon.js';
import { TableFullFlood } from '../helpers/flood.js';
import { Lab, kernelTier } from '../helpers/lab.js';
import { packTarball } from '../helpers/package.js';
import { ScratchRoot } from '../helpers/scratch-root.js';
import { unitDirectives } from '../helpers/systemd-unit.js';
import { holdKernelLockForSuite } from './netlink-lab.js';
import { all, cannotRun, command } from '../helpers/requires.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const skip = cannotRun(all(kernelTier(), command('dpkg-deb', 'dpkg'), command('dpkg-shlibdeps', 'dpkg-dev'), command('systemd-analyze', 'systemd')));

describe.skipIf(skip)('deb: dpkg-deb package, installed into a scratch root', () => {
  let tmp: string;
  let deb: string;
  let scratch: ScratchRoot;
  const inRoot = (cmd: string[]) => {
    const [c, ...a] = scratch.argv(cmd);
    return spawnSync(c!, a, { encoding: 'utf8', timeout: 180_000 });
  };

  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ctscope-deb-'));
    const tgz = packTarball(tmp);
    deb = execFileSync('bash', [path.join(root, 'packaging/deb/build.sh'), tgz, tmp], { encoding: 'utf8', timeout: 600_000 }).trim();
    scratch = ScratchRoot.create();
  }, 900_000);

  afterAll(() => {
    scratch?.remove();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('holds the package, the prebuilt addon, the BPF objects and the unit, and depends on Node >= 20 and libbpf1', () => {
    const info = execFileSync('dpkg-deb', ['-f', deb, 'Package', 'Architecture', 'Depends'], { encoding: 'utf8' });
    expect(info).toMatch(/^Package: ctscope$/m);
    expect(info).toMatch(/^Architecture: amd64$/m);
    expect(info).toMatch(/^Depends: nodejs \(>= 20\), .*libbpf1 \(>= [^)]+\)/m);
    const files = execFileSync('dpkg-deb', ['-c', deb], { encoding: 'utf8', maxBuffer: 16 << 20 });
    for (const f of [
      './usr/bin/ctscope -> ../lib/ctscope/bin/ctscope.js',
      './usr/lib/ctscope/prebuilds/linux-x64/ctscope.napi.glibc.node',
      './usr/lib/ctscope/bpf/.output/drops.bpf.o',
      './usr/lib/ctscope/bpf/.output/lifecycle.bpf.o',
      './usr/lib/ctscope/dist/cli/main.js',
      './usr/lib/ctscope/node_modules/fastify/package.json',
      './lib/systemd/system/ctscope.service',
    ]) {
      expect(files, f).toContain(f);
    }
    expect(files).not.toMatch(/ \.\/usr\/lib\/ctscope\/(native|test|src|scripts)\/|ctscope\/binding\.gyp|\.map$/m);
    const x = path.join(tmp, 'x');
    execFileSync('dpkg-deb', ['-x', deb, x]);
    expect(fs.readFileSync(path.join(x, 'lib/systemd/system/ctscope.service'), 'utf8')).toBe(fs.readFileSync(path.join(root, 'share/systemd/ctscope.service'), 'utf8'));
    const control = path.join(tmp, 'control');
    execFileSync('dpkg-deb', ['-e', deb, control]);
    expect(fs.readFileSync(path.join(control, 'postinst'), 'utf8')).toMatch(/useradd --system .* ctscope/s);
    // md5sums match the files shipped
    const check = spawnSync('md5sum', ['--check', '--quiet', path.join(control, 'md5sums')], { cwd: x, encoding: 'utf8' });
    expect(check.status, check.stdout + check.stderr).toBe(0);
  });

  it('installs with dpkg -i: the ctscope user, /usr/bin/ctscope, a unit systemd-analyze verifies', () => {
    const inst = inRoot(['dpkg', '-i', deb]);
    expect(inst.status, inst.stdout + inst.stderr).toBe(0);
    const id = inRoot(['id', '-u', 'ctscope']);
    expect(id.status, id.stderr).toBe(0);
    expect(Number(id.stdout)).toBeGreaterThan(0);
    const v = inRoot(['ctscope', '--version']);
    expect(v.stdout.trim()).toBe(execFileSync('dpkg-deb', ['-f', deb, 'Version'], { encoding: 'utf8' }).trim());
    const verify = inRoot(['systemd-analyze', 'verify', '/lib/systemd/system/ctscope.service']);
    expect(verify.status, verify.stderr).toBe(0);
    expect(verify.stderr.trim()).toBe('');
    // the host did not change
    expect(spawnSync('id', ['ctscope']).status).not.toBe(0);
    expect(fs.existsSync('/usr/lib/ctscope')).toBe(false);
  }, 180_000);

  describe('under the kernel lock', () => {
    holdKernelLockForSuite();

    it("runs the daemon as the ctscope user with the unit's capabilities: a table-full flood with the kernel count", async () => {
      const unit = unitDirectives(inRoot(['cat', '/lib/systemd/system/ctscope.service']).stdout);
      const caps = unit.AmbientCapabilities!.split(/\s+/);
      expect(caps).toEqual([...DAEMON_CAPABILITIES]);
      expect(unit.CapabilityBoundingSet!.split(/\s+/)).toEqual(caps);
      expect(unit.User).toBe('ctscope');
      const lab = await Lab.create('ctdeb');
      let daemon: DaemonProcess | undefined;
      try {
        const flood = await TableFullFlood.prepare(lab);
        daemon = await DaemonProcess.start([], 30_000, scratch.argv(withCapabilities(caps, ['/usr/bin/ctscope'], { user: unit.User })));
        expect(daemon.output).not.toMatch(/without CAP_/);
        await flood.run();
        await flood.expectAttributed((p) => daemon!.get(p));
        expect(await daemon.stop()).toBe(0);
      } finally {
        await daemon?.kill9();
        await lab.destroy();
      }
    }, 180_000);
  });

  it('removes with dpkg -r', () => {
    const r = inRoot(['dpkg', '-r', 'ctscope']);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(inRoot(['test', '-e', '/usr/bin/ctscope']).status).not.toBe(0);
    expect(inRoot(['test', '-e', '/usr/lib/ctscope/dist']).status).not.toBe(0);
  }, 60_000);
});
