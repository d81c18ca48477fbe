#!/usr/bin/python3
# For test/kernel/netlink-dense.test.ts: many namespaces without a process
# per namespace. One process enters each named namespace in turn (setns) and
#   setup NAME... : brings lo up, keeps UDP entries 600 s, loads an nft rule
#                   with a ct expression (conntrack runs in a namespace only
#                   when a rule needs it) and makes FLOWS UDP flows on lo
#   count NAME... : prints the kernel's nf_conntrack_count of each
# /proc/sys/net answers for the namespace of the process that opens it.
# Prints one JSON object {name: number}.
import ctypes, fcntl, json, os, socket, struct, subprocess, sys

CLONE_NEWNET = 0x40000000
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
libc = ctypes.CDLL(None, use_errno=True)
FLOWS = int(os.environ.get('FLOWS', '3'))
RULES = b'table inet ctdense {\n chain o {\n  type filter hook output priority 0;\n  ct state new counter\n }\n}\n'


def enter(name):
    fd = os.open(f'/run/netns/{name}', os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f'setns {name}')
    finally:
        os.close(fd)


def lo_up():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    ifr = struct.pack('16sH14x', b'lo', 0)
    flags = struct.unpack('16sH14x', fcntl.ioctl(s, SIOCGIFFLAGS, ifr))[1]
    fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack('16sH14x', b'lo', flags | IFF_UP))
    s.close()


def setup():
    lo_up()
    with open('/proc/sys/net/netfilter/nf_conntrack_udp_timeout', 'w') as f:
        f.write('600')
    subprocess.run(['nft', '-f', '-'], input=RULES, check=True)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for i in range(FLOWS):
        s.sendto(b'x', ('127.0.0.1', 20000 + i))
    s.close()
    return FLOWS


def count():
    with open('/proc/sys/net/netfilter/nf_conntrack_count') as f:
        return int(f.read())


home = os.open('/proc/self/ns/net', os.O_RDONLY)
what = {'setup': setup, 'count': count}[sys.argv[1]]
out = {}
for name in sys.argv[2:]:
    enter(name)
    out[name] = what()
libc.setns(home, CLONE_NEWNET)
print(json.dumps(out))
