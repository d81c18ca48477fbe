// deploy/kubernetes/ read as Kubernetes reads it, held to what the image and
// the daemon need: the documented capability list and nothing privileged, the
// flags the CLI accepts with TLS and the token the API needs off loopback,
// probes on the port it listens on, the mounts it reads, a Service and a
// ServiceMonitor that reach it with the same Secret, the generated monitoring
// files current (the alert rules, the Grafana dashboard). (test/kernel/image.test.ts runs the DaemonSet's pod.)
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCommand } from '../../src/cli/commands/run.js';
import { OPENABLE_PATHS } from '../../src/api/access.js';
import { DAEMON_CAPABILITIES } from '../../src/privileges.js';
import { CRI_SOCKETS } from '../../src/workloads/resolver.js';
import { parseYamlFiles, parseYamlTree } from '../helpers/yaml.js';
import { IMAGE_NAME } from '../../packaging/image/build.mjs';

const root = path.resolve(__dirname, '../..');
const dir = path.join(root, 'deploy/kubernetes');
const ALERTS = path.join(root, 'share/prometheus/ctscope-alerts.yml');
const parsed = { ...parseYamlTree(dir), ...parseYamlFiles([ALERTS]) };
const load = (f: string) => {
  const docs = parsed[path.join(dir, f)];
  if (!docs) throw new Error(`deploy/kubernetes/${f} does not exist`);
  return docs;
};
const one = (f: string, kind: string) => {
  const docs = load(f).filter((d) => d.kind === kind);
  expect(docs, `${f}: one ${kind}`).toHaveLength(1);
  return docs[0];
};

const version = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).version as string;
const ds = one('daemonset.yaml', 'DaemonSet');
const pod = ds.spec.template.spec;
const c = pod.containers.find((x: any) => x.name === 'ctscope');
const sc = c.securityContext;
/** --flag=value or --flag value, as the CLI takes them. */
function flag(name: string): string | undefined {
  const args: string[] = c.args;
  const i = args.findIndex((a) => a === `--${name}` || a.startsWith(`--${name}=`));
  if (i < 0) return undefined;
  return args[i]!.includes('=') ? args[i]!.slice(args[i]!.indexOf('=') + 1) : args[i + 1];
}

describe('the kustomizations', () => {
  it.each(['kustomization.yaml', 'monitoring/kustomization.yaml'])('%s lists files that exist and parse', (k) => {
    const kz = one(k, 'Kustomization');
    for (const r of kz.resources as string[]) {
      const docs = load(path.join(path.dirname(k), r));
      expect(docs.length, r).toBeGreaterThan(0);
      for (const d of docs) expect(d.metadata.namespace ?? d.metadata.name, `${r}: in the ctscope namespace`).toBe('ctscope');
    }
  });

  it('the monitoring files are what generate.mjs makes from share/ (the alert rules and dashboards have one source)', () => {
    execFileSync(process.execPath, [path.join(dir, 'generate.mjs'), '--check'], { stdio: 'pipe' });
    const rule = one('monitoring/prometheusrule.yaml', 'PrometheusRule');
    const alerts = parsed[ALERTS]![0];
    expect(rule.spec).toEqual(alerts);
    const cm = one('monitoring/grafana-dashboard.yaml', 'ConfigMap');
    const dashboards = fs.readdirSync(path.join(root, 'share/grafana')).filter((f) => f.endsWith('.json'));
    expect(Object.keys(cm.data).sort()).toEqual(dashboards.sort());
    for (const f of dashboards) expect(JSON.parse(cm.data[f]), f).toEqual(JSON.parse(fs.readFileSync(path.join(root, 'share/grafana', f), 'utf8')));
    expect(cm.metadata.labels.grafana_dashboard).toBe('1');
  });
});

describe('the DaemonSet', () => {
  it('runs the image this package builds', () => {
    expect(c.image).toBe(`${IMAGE_NAME}:${version}`);
    expect(c.command, 'the image entrypoint runs (ctscope)').toBeUndefined();
    expect(c.args[0]).toBe('run');
  });

  it('has the documented capabilities, exactly, and nothing privileged', () => {
    expect(sc.privileged ?? false).toBe(false);
    expect(sc.capabilities.drop).toEqual(['ALL']);
    expect([...sc.capabilities.add].sort()).toEqual(DAEMON_CAPABILITIES.map((x) => x.replace(/^CAP_/, '')).sort());
    expect(sc.allowPrivilegeEscalation).toBe(false);
    expect(sc.readOnlyRootFilesystem).toBe(true);
    expect(sc.seccompProfile).toEqual({ type: 'RuntimeDefault' });
    // root, holding only those: Kubernetes gives a non-root user no ambient capabilities
    expect(sc.runAsUser).toBe(0);
    expect(pod.automountServiceAccountToken).toBe(false);
  });

  it('sees the node: host network and PID, on every node whatever its taints', () => {
    expect(pod.hostNetwork).toBe(true);
    expect(pod.hostPID).toBe(true);
    expect(pod.dnsPolicy).toBe('ClusterFirstWithHostNet');
    expect(pod.tolerations).toContainEqual({ operator: 'Exists' });
    for (const [k, v] of Object.entries(ds.spec.selector.matchLabels)) expect(ds.spec.template.metadata.labels[k]).toBe(v);
  });

  it('passes flags the CLI accepts, and listens off loopback with TLS and the token from the Secret', async () => {
    expect(await runCommand([...c.args.slice(1), '--help'], { out: () => undefined })).toBe(0);
    const listen = flag('listen')!;
    expect(listen).toMatch(/^0\.0\.0\.0:\d+$/);
    expect(flag('insecure-listen')).toBeUndefined();
    const secretVol = pod.volumes.find((v: any) => v.secret);
    const secretMount = c.volumeMounts.find((m: any) => m.name === secretVol.name);
    expect(secretMount.readOnly).toBe(true);
    for (const [f, key] of [['tls-cert', 'tls.crt'], ['tls-key', 'tls.key'], ['token-file', 'token']] as const) {
      expect(flag(f), f).toBe(`${secretMount.mountPath}/${key}`);
    }
    expect(secretVol.secret.defaultMode & 0o077, 'the Secret files readable by their owner only').toBe(0);
    const open = flag('no-token-for')!.split(',');
    for (const p of open) expect(OPENABLE_PATHS).toContain(p);
    expect(open).toContain('/healthz');
  });

  it('probes /healthz over HTTPS on the port it listens on, and has requests and limits', () => {
    const port = Number(flag('listen')!.split(':')[1]);
    const api = c.ports.find((p: any) => p.name === 'api');
    expect(api.containerPort).toBe(port);
    for (const probe of [c.livenessProbe, c.readinessProbe]) {
      expect(probe.httpGet).toEqual({ path: '/healthz', port: 'api', scheme: 'HTTPS' });
    }
    const { requests, limits } = c.resources;
    const mem = (s: string) => Number(/^(\d+)Mi$/.exec(s)![1]);
    const cpu = (s: string) => (s.endsWith('m') ? Number(s.slice(0, -1)) / 1000 : Number(s));
    expect(mem(limits.memory)).toBeGreaterThanOrEqual(mem(requests.memory));
    expect(cpu(limits.cpu)).toBeGreaterThanOrEqual(cpu(requests.cpu));
    // ~75 bytes per flow at the default --max-flows of 1,000,000, plus the runtime
    expect(mem(limits.memory)).toBeGreaterThanOrEqual(256);
  });

  it('mounts what the daemon reads: /run/netns as namespaces come, /run/ctscope, the CRI socket; each mount has its volume', () => {
    const vols = new Map<string, any>(pod.volumes.map((v: any) => [v.name, v]));
    const at = new Map<string, any>(c.volumeMounts.map((m: any) => [m.mountPath, m]));
    for (const m of c.volumeMounts) expect(vols.has(m.name), m.name).toBe(true);
    expect(at.get('/run/netns')).toMatchObject({ readOnly: true, mountPropagation: 'HostToContainer' });
    expect(vols.get(at.get('/run/netns').name).hostPath.path).toBe('/run/netns');
    expect(vols.get(at.get('/run/ctscope').name).hostPath.path).toBe('/run/ctscope');
    const cri = c.volumeMounts.find((m: any) => vols.get(m.name).hostPath?.type === 'Socket');
    expect(CRI_SOCKETS as readonly string[]).toContain(cri.mountPath);
    expect(cri.readOnly).toBe(true);
    // nothing writable from the node but the per-boot key's folder
    const writable = c.volumeMounts.filter((m: any) => !m.readOnly).map((m: any) => m.mountPath);
    expect(writable).toEqual(['/run/ctscope']);
  });
});

describe('the Service and the ServiceMonitor', () => {
  const svc = one('service.yaml', 'Service');
  const sm = one('monitoring/servicemonitor.yaml', 'ServiceMonitor');

  it('the Service selects the pods and names their API port', () => {
    for (const [k, v] of Object.entries(svc.spec.selector)) expect(ds.spec.template.metadata.labels[k]).toBe(v);
    expect(svc.spec.clusterIP).toBe('None');
    expect(svc.spec.ports[0].targetPort).toBe('api');
  });

  it('the ServiceMonitor scrapes /metrics over HTTPS with the token and certificate of the same Secret', () => {
    for (const [k, v] of Object.entries(sm.spec.selector.matchLabels)) expect(svc.metadata.labels[k]).toBe(v);
    const ep = sm.spec.endpoints[0];
    expect(ep).toMatchObject({ port: svc.spec.ports[0].name, path: '/metrics', scheme: 'https' });
    const secret = pod.volumes.find((v: any) => v.secret).secret.secretName;
    expect(ep.authorization.credentials).toEqual({ name: secret, key: 'token' });
    expect(ep.tlsConfig.ca.secret).toEqual({ name: secret, key: 'tls.crt' });
    expect(ep.tlsConfig.insecureSkipVerify).toBe(false);
  });

  it('the namespace admits the pod (host namespaces and added capabilities: the privileged Pod Security level)', () => {
    expect(one('namespace.yaml', 'Namespace').metadata.labels['pod-security.kubernetes.io/enforce']).toBe('privileged');
  });
});
