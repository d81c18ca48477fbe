// The image as a DaemonSet runs it: packaging/image/build.mjs builds the OCI
// archive from this clone's package and Debian's files, a containerd started
// by the test imports it, and deploy/kubernetes/daemonset.yaml's pod is run
// through CRI as kubelet would run it (host network and PID, the manifest's
// args, capabilities, user, read-only root, no_new_privs, seccomp, mounts and
// the Secret's files). A table-full flood in a lab namespace must then appear
// in the pod's API — over TLS, with the token — with the kernel's drop count.
//
// The pod's "node" is the containerd's own network namespace (the harness's
// default), so its 0.0.0.0:9640 is reached there (curl through nsenter) and
// nothing listens on this machine's addresses.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DAEMON_CAPABILITIES } from '../../src/privileges.js';
import { Containerd, containerdTier, type Container, type Pod } from '../helpers/containerd.js';
import { TableFullFlood } from '../helpers/flood.js';
import { Lab, kernelTier } from '../helpers/lab.js';
import { packTarball } from '../helpers/package.js';
import { criFromDaemonSet, type VolumeSource } from '../helpers/pod-template.js';
import { parseYamlFiles } from '../helpers/yaml.js';
import { holdKernelLock } from './netlink-lab.js';
import { all, cannotRun, command, type Requirement } from '../helpers/requires.js';

const root = path.resolve(__dirname, '../..');

/** python3's yaml module: the manifests are read with it. */
function pythonYaml(): Requirement {
  try {
    execFileSync('python3', ['-c', 'import yaml'], { stdio: 'ignore' });
    return { ok: true };
  } catch {
    return { ok: false, kind: 'setup', why: 'python3-yaml is missing (scripts/setup.sh --test installs it): the manifests are read with it' };
  }
}

const skip = cannotRun(
  all(kernelTier(), containerdTier(), command('umoci', 'umoci'), command('curl', 'curl'), command('openssl', 'openssl'), command('hping3', 'hping3'), pythonYaml()),
);

/** The capability set of a process, by name, from /proc/PID/status's CapEff. */
function effectiveCaps(pid: number): string[] {
  const hex = /^CapEff:\s+([0-9a-f]+)$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]!;
  const names = execFileSync('capsh', [`--decode=${hex}`], { encoding: 'utf8' }).trim().replace(/^0x[0-9a-f]+=/, '');
  return names ? names.split(',').map((c) => c.toUpperCase()).sort() : [];
}

describe.skipIf(skip)('the image, run as the DaemonSet pod through CRI', () => {
  let work: string;
  let node: Containerd;
  let lab: Lab;
  let flood: TableFullFlood;
  let pod: Pod;
  let ctr: Container;
  let ds: any;
  let release: () => void = () => undefined;
  const token = 'f00d'.repeat(12);
  let ca: string;
  let tokenHeader: string;
  let buildMs = 0;
  let volumeSource: VolumeSource;

  /** curl in the node's network namespace; the status code and the body. */
  async function curl(p: string, opts: { token?: boolean; scheme?: string } = {}): Promise<{ code: number; body: string }> {
    const url = `${opts.scheme ?? 'https'}://127.0.0.1:9640${p}`;
    const args = ['curl', '-sS', '--max-time', '10', '--cacert', ca, '-w', '\n%{http_code}', ...(opts.token === false ? [] : ['-H', `@${tokenHeader}`]), url];
    const r = await node.nodeExec(args).catch((e: { stdout?: string; stderr?: string; code?: number }) => ({ stdout: `${e.stdout ?? ''}\n0`, stderr: e.stderr ?? '' }));
    const out = r.stdout;
    const i = out.lastIndexOf('\n');
    return { code: Number(out.slice(i + 1)), body: out.slice(0, i) };
  }
  async function get(p: string): Promise<any> {
    const r = await curl(p);
    if (r.code !== 200) throw new Error(`GET ${p}: ${r.code} ${r.body}`);
    return p.startsWith('/metrics') ? r.body : JSON.parse(r.body);
  }

  beforeAll(async () => {
    release = await holdKernelLock();
  }, 30 * 60_000);

  beforeAll(async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'ctscope-image-test-'));
    const t0 = Date.now();
    const tgz = packTarball(work);
    const archive = execFileSync(process.execPath, [path.join(root, 'packaging/image/build.mjs'), '--tarball', tgz, '--out', work], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 600_000,
    }).trim();
    buildMs = Date.now() - t0;
    const manifest = path.join(root, 'deploy/kubernetes/daemonset.yaml');
    ds = parseYamlFiles([manifest])[manifest]!.find((d) => d.kind === 'DaemonSet');

    // The Secret ctscope-api as kubelet writes it into the pod: tls.crt, tls.key, token.
    const secret = path.join(work, 'secret');
    fs.mkdirSync(secret);
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=ctscope',
      '-addext', 'subjectAltName=DNS:ctscope,IP:127.0.0.1', '-keyout', path.join(secret, 'tls.key'), '-out', path.join(secret, 'tls.crt'),
    ], { stdio: 'ignore' });
    fs.writeFileSync(path.join(secret, 'token'), token);
    for (const f of fs.readdirSync(secret)) fs.chmodSync(path.join(secret, f), 0o400);
    ca = path.join(secret, 'tls.crt');
    tokenHeader = path.join(work, 'auth-header');
    fs.writeFileSync(tokenHeader, `Authorization: Bearer ${token}\n`, { mode: 0o600 });

    node = await Containerd.start('ctimg');
    await node.importImage(archive);
    lab = await Lab.create('ctim');
    flood = await TableFullFlood.prepare(lab);

    const runDir = path.join(work, 'run-ctscope');
    fs.mkdirSync(runDir);
    volumeSource = (v) => {
      if (v.secret) return secret;
      // hostPaths: this machine's /run/netns (the lab's namespaces are there);
      // the per-boot key in a folder of the test's; the test containerd's socket
      if (v.hostPath!.path === '/run/ctscope') return runDir;
      if (v.hostPath!.path.endsWith('containerd.sock')) return node.socket;
      return v.hostPath!.path;
    };
    const { pod: podSpec, container } = criFromDaemonSet(ds, 'ctscope', volumeSource);
    pod = await node.runPod(podSpec);
    ctr = await node.runContainer(pod, container);
    const deadline = Date.now() + 60_000;
    for (;;) {
      if ((await curl('/healthz', { token: false })).code === 200) break;
      const st = await node.containerStatus(ctr.id);
      if (st.state !== 'CONTAINER_RUNNING' || Date.now() > deadline) {
        throw new Error(`the pod did not answer /healthz (${st.state} ${st.reason} ${st.message}); its log:\n${podLog()}`);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    console.log(`image built in ${buildMs} ms (${(fs.statSync(archive).size / 1e6).toFixed(1)} MB)`);
  }, 15 * 60_000);

  afterAll(async () => {
    await node?.stop();
    await lab?.destroy();
    if (work) fs.rmSync(work, { recursive: true, force: true });
    release();
  }, 120_000);

  /** A container's output from its CRI log (lines of `TIME STREAM TAG TEXT`). */
  function podLog(name = 'ctscope', stream?: 'stdout' | 'stderr'): string {
    try {
      const text = fs.readFileSync(path.join((pod.config as any).log_directory, `${name}/0.log`), 'utf8');
      const lines = text.split('\n').filter((l) => l && (!stream || l.split(' ')[1] === stream));
      return lines.map((l) => l.split(' ').slice(3).join(' ')).join('\n');
    } catch {
      return '(no log)';
    }
  }

  it('runs as the manifest says: root with exactly the documented capabilities, no_new_privs, seccomp, a read-only root', () => {
    const want = DAEMON_CAPABILITIES.map((c) => c.toUpperCase()).sort();
    expect(effectiveCaps(ctr.pid)).toEqual(want);
    const status = fs.readFileSync(`/proc/${ctr.pid}/status`, 'utf8');
    expect(status).toMatch(/^Uid:\s+0\s+0\s+0\s+0$/m);
    expect(status).toMatch(/^NoNewPrivs:\s+1$/m);
    expect(status).toMatch(/^Seccomp:\s+2$/m); // a filter
    const rootMount = fs.readFileSync(`/proc/${ctr.pid}/mountinfo`, 'utf8').split('\n').find((l) => l.split(' ')[4] === '/')!;
    expect(rootMount.split(' ')[5]!.split(',')).toContain('ro');
    expect(fs.readlinkSync(`/proc/${ctr.pid}/ns/pid`)).toBe(fs.readlinkSync('/proc/self/ns/pid')); // hostPID
    expect(fs.statSync(`/proc/${ctr.pid}/ns/net`).ino).toBe(node.nodeNetnsInode()); // hostNetwork
  });

  it('serves TLS with the token: /healthz open for the probe, the rest refused without it or over plain HTTP', async () => {
    expect((await curl('/healthz', { token: false })).code).toBe(200);
    const refused = await curl('/v1/status', { token: false });
    expect(refused.code).toBe(401);
    expect(JSON.parse(refused.body).message).toMatch(/bearer token/);
    expect((await curl('/healthz', { token: false, scheme: 'http' })).code).not.toBe(200);
    const st = await get('/v1/status');
    expect(st.mode).toBe('live');
    // with only its capabilities, inside the container, each capability got the hook root gets
    // on this host (doctor run here), and the ctnetlink fallback runs where that is the hook
    const chosen = (caps: Array<{ capability: string; chosen: string | null }>) => Object.fromEntries(caps.map((c) => [c.capability, c.chosen]));
    const host = chosen(JSON.parse(execFileSync(process.execPath, [path.join(root, 'bin/ctscope.js'), 'doctor', '--json'], { encoding: 'utf8' })).capabilities);
    const pod = chosen(st.capabilities);
    for (const cap of ['alloc', 'table_full', 'evict', 'confirm', 'destroy', 'drops']) expect(pod[cap], cap).toBe(host[cap]);
    expect(pod.drops).toBe('tp_btf:kfree_skb');
    const states = new Map<string, string>(st.sources.map((s: any) => [s.name, s.state]));
    expect(states.get('drops')).toBe('running');
    if (Object.values(pod).includes('ctnetlink')) expect(states.get('netlink')).toBe('running');
    // the runtime's socket as the manifest mounts it: pod names from CRI (its own pod at least)
    expect(st.workloads).toMatchObject({ source: 'cri', state: 'running', socket: '/run/containerd/containerd.sock' });
  });

  it('attributes a table-full flood in a lab namespace with the kernel count', async () => {
    await flood.run();
    await flood.expectAttributed(get);
    const byNetns = await get('/v1/drops?by=netns&window=300');
    expect(byNetns.items[0].key).toBe(String(lab.netnsInode(lab.server)));
    expect(byNetns.items[0].netns_name).toBe(lab.server);
    expect(await get('/metrics')).toMatch(/^node_nf_conntrack_entries_limit 331$/m);
  }, 120_000);

  it('run as a non-root user, the same container holds none of them: why the manifest runs as root', async () => {
    // Kubernetes has no ambient capabilities: runc gives a non-root process the
    // added set, and its exec of the entrypoint drops it (no file capabilities,
    // no_new_privs). doctor, run as the DaemonSet's container would be with runAsUser.
    const { container } = criFromDaemonSet(ds, 'ctscope', volumeSource);
    const c = await node.runContainer(pod, { ...container, name: 'nonroot', runAsUser: 65534, runAsGroup: 65534, args: ['doctor', '--json'] });
    const deadline = Date.now() + 60_000;
    while ((await node.containerStatus(c.id)).state !== 'CONTAINER_EXITED') {
      if (Date.now() > deadline) throw new Error('doctor did not finish within 60 s');
      await new Promise((r) => setTimeout(r, 250));
    }
    const report = JSON.parse(podLog('nonroot', 'stdout'));
    expect(report.privileges.uid).toBe(65534);
    expect(report.privileges.capabilities).toEqual([]);
    expect(report.privileges.needs.filter((n: { missing: string | null }) => n.missing !== null)).toHaveLength(DAEMON_CAPABILITIES.length);
  }, 90_000);
});
