// Runs inside a guest kernel (scripts/guest/run.mjs) for
// test/kernel/ingress-guest.test.ts. On a kernel without tcx (Debian 12's
// 6.1) the ingress counter with hook 'auto' must fall back to a legacy
// clsact filter, count SYNs and new UDP flows exactly as nft and conntrack
// do (with the conntrack-lookup program and with the LRU fallback), and
// leave no filter of ours on close (the clsact qdisc stays). Prints one
// JSON line: { release, runs: [...] }.
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const root = new URL('../..', import.meta.url).pathname;
const addon = require(`${root}build/Release/ctscope.node`);
// the object's program and map names, as the daemon passes them (generated from its BTF)
const { INGRESS_OBJECT_NAMES } = await import(`${root}dist/sources/ingress.js`);
const sh = (cmd, input) => execFileSync('sh', ['-c', cmd], { encoding: 'utf8', input });
const C = 'igc';
const S = 'igs';
const release = sh('uname -r').trim();

const ruleset = `
table netdev g {
  chain in {
    type filter hook ingress device "v1" priority 0;
    tcp flags & (syn|ack) == syn counter
  }
}
table inet g {
  chain pre {
    type filter hook prerouting priority 0;
    ct state new
  }
}
`;

const ours = () => sh(`ip netns exec ${S} tc filter show dev v1 ingress`).split('\n').filter((l) => l.includes('cts_ingress')).length;

async function scenario(variant) {
  const out = { variant };
  try {
    sh(`ip netns add ${C}; ip netns add ${S}`);
    sh(`ip -n ${C} link add v0 type veth peer name v1 netns ${S}`);
    sh(`ip -n ${C} addr add 10.66.0.1/24 dev v0; ip -n ${S} addr add 10.66.0.2/24 dev v1`);
    sh(`ip -n ${C} link set v0 up; ip -n ${S} link set v1 up; ip -n ${S} link set lo up`);
    sh(`ip netns exec ${S} nft -f -`, ruleset);
    const c = new addon.IngressCounter({ object: `${root}bpf/.output/ingress.bpf.o`, variant, ...INGRESS_OBJECT_NAMES });
    out.chosen = c.info().variant;
    out.tcxProbe = c.info().tcx;
    out.hook = c.attach(`/run/netns/${S}`, 'v1', 'auto').hook;
    out.filtersAttached = ours();
    sh(`ip netns exec ${C} hping3 -q -S -p 80 -c 211 -i u500 10.66.0.2 >/dev/null 2>&1 || true`);
    sh(`ip netns exec ${C} hping3 -q --udp -p 53 -c 13 -i u1000 10.66.0.2 >/dev/null 2>&1 || true`);
    sh(`ip netns exec ${C} hping3 -q --udp -s 40000 -k -p 54 -c 29 -i u1000 10.66.0.2 >/dev/null 2>&1 || true`);
    const snap = await c.collect();
    const src = snap.src.find((e) => e.family === 2 && e.addr[0] === 10 && e.addr[1] === 66 && e.addr[3] === 1);
    out.arrivals = { tcpSyn: src?.tcpSyn ?? 0, udpNew: src?.udpNew ?? 0 };
    out.stats = snap.stats;
    // an anonymous rule counter: named counter objects need nft_objref,
    // which the guest may not load
    const rule = JSON.parse(sh(`ip netns exec ${S} nft -j list chain netdev g in`)).nftables.find((x) => x.rule).rule;
    out.nftSyn = rule.expr.find((e) => e.counter).counter.packets;
    out.conntrackUdp = sh(`ip netns exec ${S} conntrack -L -p udp 2>/dev/null`).split('\n').filter((l) => l.startsWith('udp')).length;
    out.closeErrors = c.close();
    out.filtersAfter = ours();
    out.clsactKept = sh(`ip netns exec ${S} tc qdisc show dev v1`).includes('clsact');
  } catch (e) {
    out.error = String(e && e.stack ? e.stack : e);
  } finally {
    try {
      sh(`ip netns del ${C}; ip netns del ${S}`);
    } catch {
      /* never created */
    }
  }
  return out;
}

const runs = [];
for (const variant of ['auto', 'lru']) runs.push(await scenario(variant));
console.log(JSON.stringify({ release, runs }));
