#!/usr/bin/env python3
# Seeds for the netlink decoder's fuzzer (native/fuzz/netlink_fuzz.cc): real
# ctnetlink datagrams, recorded from the kernel in a throwaway network
# namespace — NEW/UPDATE/DESTROY events of TCP, UDP and ICMP over IPv4 and
# IPv6, and the chunks of a table dump. Each file is one datagram behind the
# harness's mode byte (0: event datagram; 2*seq+1: dump chunk of that seq).
#   usage (root): python3 scripts/fuzz/netlink-corpus.py test/fixtures/fuzz/netlink
import os, socket, struct, subprocess, sys, time

out = sys.argv[1]
ns = f'ctfzc{os.getpid()}'
os.makedirs(out, exist_ok=True)

def sh(*a):
    subprocess.run(a, check=True)

if os.environ.get('CTFZ_IN_NS') != '1':
    sh('ip', 'netns', 'add', ns)
    try:
        sh('ip', 'netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up')
        # conntrack tracks a namespace once a rule asks for it
        sh('ip', 'netns', 'exec', ns, 'nft', 'add table inet t; add chain inet t c { type filter hook output priority 0; }; add rule inet t c ct state new counter')
        env = dict(os.environ, CTFZ_IN_NS='1')
        subprocess.run(['ip', 'netns', 'exec', ns, sys.executable, __file__, out], check=True, env=env)
    finally:
        subprocess.run(['ip', 'netns', 'del', ns])
    sys.exit(0)

NETLINK_NETFILTER = 12
ev = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
ev.bind((0, 1 | 2 | 4))  # NFNLGRP_CONNTRACK_NEW | UPDATE | DESTROY
ev.setblocking(False)

# traffic: TCP (v4, v6) to a listener, UDP, ICMP echo
for fam, addr in ((socket.AF_INET, '127.0.0.1'), (socket.AF_INET6, '::1')):
    srv = socket.socket(fam, socket.SOCK_STREAM); srv.bind((addr, 0)); srv.listen()
    c = socket.create_connection((addr, srv.getsockname()[1])); a, _ = srv.accept()
    c.send(b'x'); a.recv(1); c.close(); a.close(); srv.close()
    u = socket.socket(fam, socket.SOCK_DGRAM); u.sendto(b'y', (addr, 5353)); u.close()
subprocess.run(['ping', '-c', '1', '-W', '1', '127.0.0.1'], stdout=subprocess.DEVNULL)
subprocess.run(['ping', '-6', '-c', '1', '-W', '1', '::1'], stdout=subprocess.DEVNULL)
time.sleep(0.2)

n = 0
while True:
    try:
        d = ev.recv(65536)
    except BlockingIOError:
        break
    with open(os.path.join(out, f'event-{n:02d}'), 'wb') as f:
        f.write(b'\x00' + d)
    n += 1

# a dump of the table (IPCTNL_MSG_CT_GET, NLM_F_REQUEST|NLM_F_DUMP), seq 5
dump = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
dump.bind((0, 0))
seq = 5
req = struct.pack('=IHHII', 20, (1 << 8) | 1, 0x1 | 0x300, seq, 0) + struct.pack('=BBH', 0, 0, 0)
dump.send(req)
m = 0
while True:
    d = dump.recv(65536)
    with open(os.path.join(out, f'dump-{m:02d}'), 'wb') as f:
        f.write(bytes([2 * seq + 1]) + d)
    m += 1
    if struct.unpack_from('=H', d, 4)[0] == 3 or m > 20:  # NLMSG_DONE ends the last chunk
        break
print(f'{n} event datagrams, {m} dump chunks in {out}')
