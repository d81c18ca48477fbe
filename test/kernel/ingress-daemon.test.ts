// Issue 7, end to end through the daemon: `ctscope run --ingress NETNS/IFACE`;
// a SYN flood in the lab appears in /v1/arrivals?by=src under its source with
// nft's count, is flagged in /v1/advice, and after kill -9 nothing of ours
// stays attached to the interface.
import { execFileSync, spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DaemonProcess } from '../helpers/daemon.js';
import { Lab, kernelTier, withKernelLock } from '../helpers/lab.js';
import { all, cannotRun } from '../helpers/requires.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const tier = kernelTier();
function daemonHasIngress(): boolean {
  const r = spawnSync(process.execPath, [path.join(root, 'bin/ctscope.js'), 'run', '--help'], { encoding: 'utf8' });
  return `${r.stdout}${r.stderr}`.includes('--ingress');
}
const skip = cannotRun(all(tier, { ok: daemonHasIngress(), why: "'ctscope run --help' has no --ingress (dist/ not built: make -s all)" }));

const FLOOD = 2003;

function ourLinks(): Array<{ id: number; prog_id: number }> {
  const links = JSON.parse(execFileSync('bpftool', ['-j', 'link', 'list'], { encoding: 'utf8' }) || '[]') as Array<{ id: number; prog_id: number }>;
  const progs = JSON.parse(execFileSync('bpftool', ['-j', 'prog', 'list'], { encoding: 'utf8' }) || '[]') as Array<{ id: number; name?: string }>;
  const ours = new Set(progs.filter((p) => p.name?.startsWith('cts_ingress')).map((p) => p.id));
  return links.filter((l) => ours.has(l.prog_id));
}

describe.skipIf(skip)('daemon: ingress arrivals end to end', () => {
  it('shows a SYN flood with the kernel count, flags it, and kill -9 leaves nothing attached', async () => {
    await withKernelLock(async () => {
      const lab = await Lab.create('ingd');
      let daemon: DaemonProcess | undefined;
      try {
        const flooder = lab.clientAddress;
        await lab.nft(
          lab.server,
          `table netdev ingd {
             counter synF {}
             chain in {
               type filter hook ingress device "${lab.serverIf}" priority 0;
               ip saddr ${flooder} tcp flags & (syn|ack) == syn counter name synF
             }
           }
           table inet ingd {
             chain pre {
               type filter hook prerouting priority 0; ct state new counter
             }
           }`,
        );
        const linksBefore = ourLinks().length;
        daemon = await DaemonProcess.start(['--ingress', `${lab.server}/${lab.serverIf}`]);
        const status = await daemon.get('/v1/status');
        const ing = (status.sources as Array<{ name: string; state: string; hook: string | null }>).find((s) => s.name === 'ingress');
        expect(ing).toMatchObject({ state: 'running', hook: 'tcx' });
        expect(ourLinks().length).toBe(linksBefore + 1);

        await lab.exec(lab.client, ['hping3', '-q', '-S', '-p', '80', '-c', String(FLOOD), '-i', 'u100', lab.serverAddress], { timeoutMs: 60_000 }).catch((e: unknown) => e);
        const { stdout } = await lab.exec(lab.server, ['nft', '-j', 'list', 'counter', 'netdev', 'ingd', 'synF']);
        const kernel = (JSON.parse(stdout).nftables as Array<{ counter?: { packets: number } }>).find((x) => x.counter)!.counter!.packets;
        expect(kernel).toBeGreaterThanOrEqual(FLOOD * 0.95);

        // drained every second
        let top: { key: string; tcp_syn: number } | undefined;
        const end = Date.now() + 3000;
        do {
          await new Promise((r) => setTimeout(r, 250));
          top = (await daemon.get('/v1/arrivals?by=src&window=60')).items[0];
        } while ((top?.tcp_syn ?? 0) < kernel && Date.now() < end);
        expect(top).toMatchObject({ key: flooder, tcp_syn: kernel });

        const advice = await daemon.get('/v1/advice');
        const flood = (advice.advice as Array<{ id: string; evidence: { source?: string; syn_arrivals?: number } }>).filter((a) => a.id === 'syn-flood');
        expect(flood.map((a) => a.evidence.source)).toEqual([flooder]);
        expect(flood[0]!.evidence.syn_arrivals).toBe(kernel);

        await daemon.kill9();
        daemon = undefined;
        await new Promise((r) => setTimeout(r, 200));
        expect(ourLinks().length).toBe(linksBefore);
        const tc = await lab.exec(lab.server, ['tc', 'filter', 'show', 'dev', lab.serverIf, 'ingress']);
        expect(tc.stdout).not.toContain('cts_ingress');
      } finally {
        await daemon?.kill9();
        await lab.destroy();
      }
    });
  }, 120_000);
});
