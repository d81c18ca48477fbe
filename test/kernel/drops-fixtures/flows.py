#!/usr/bin/env python3
# Opens exactly `count` new flows of one kind from `src` to `dst`, one packet
# each, for test/kernel/drops.test.ts. Prints the count when all were sent.
# Several groups of five arguments run one after the other in this process
# (no interpreter start between them), each printing its count.
#
#   flows.py udp      SRC DST FIRST_PORT COUNT   UDP to ports FIRST_PORT..
#   flows.py udp-ext  SRC DST FIRST_PORT COUNT   IPv6 UDP behind hop-by-hop
#                                                and destination options headers
#   flows.py tcp-syn  SRC DST FIRST_PORT COUNT   one SYN to each port
#   flows.py udp-same SRC DST PORT COUNT         COUNT datagrams of one flow
#   flows.py icmp     SRC DST FIRST_ID COUNT     echo requests with ids FIRST_ID..
#                                                (ICMPv6 when DST is IPv6)
import socket
import struct
import sys
import time

def checksum(data):
    if len(data) % 2:
        data += b'\0'
    s = sum(struct.unpack('!%dH' % (len(data) // 2), data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


prepared = {}


def prepare(kind, src, dst, first, count):
    if kind == 'tcp-syn':
        fam = socket.AF_INET6 if ':' in dst else socket.AF_INET
        socks = []
        for _ in range(count):
            s = socket.socket(fam, socket.SOCK_STREAM)
            s.bind((src, 0))
            s.setblocking(False)
            socks.append(s)
        prepared[(src, dst, first)] = socks


def send(kind, src, dst, first, count):
    v6 = ':' in dst
    fam = socket.AF_INET6 if v6 else socket.AF_INET
    if kind in ('udp', 'udp-ext'):
        s = socket.socket(fam, socket.SOCK_DGRAM)
        if kind == 'udp-ext':
            # PadN filling each 8-byte header; the kernel sets next-header/length
            pad = bytes([0, 0, 1, 4, 0, 0, 0, 0])
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_HOPOPTS, pad)
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_DSTOPTS, pad)
        s.bind((src, 0))
        for i in range(count):
            s.sendto(b'ctscope', (dst, first + i))
    elif kind == 'udp-same':
        s = socket.socket(fam, socket.SOCK_DGRAM)
        s.bind((src, 0))
        for i in range(count):
            s.sendto(b'ctscope', (dst, first))
    elif kind == 'tcp-syn':
        # The sockets were made before any group was sent (prepare()): the
        # SYNs go back to back, right after the group before, so a full table
        # gets no time to make room between them (conntrack's gc evicts
        # unassured entries of a table over 95 % full).
        socks = prepared.pop((src, dst, first))
        for i, s in enumerate(socks):
            s.connect_ex((dst, first + i))
        # close before the first retransmission (1 s): one SYN per flow
        time.sleep(0.2)
        for s in socks:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
            s.close()
    elif kind == 'icmp':
        proto = socket.IPPROTO_ICMPV6 if v6 else socket.IPPROTO_ICMP
        s = socket.socket(fam, socket.SOCK_RAW, proto)
        s.bind((src, 0))
        for i in range(count):
            typ = 128 if v6 else 8
            hdr = struct.pack('!BBHHH', typ, 0, 0, first + i, 1) + b'ctscope!'
            if not v6:  # the kernel computes ICMPv6 checksums itself
                hdr = hdr[:2] + struct.pack('!H', checksum(hdr)) + hdr[4:]
            s.sendto(hdr, (dst, 0))
    else:
        sys.exit('unknown kind ' + kind)
    print(count, flush=True)


args = sys.argv[1:]
if not args or len(args) % 5:
    sys.exit('usage: flows.py KIND SRC DST FIRST COUNT [KIND SRC DST FIRST COUNT ...]')
groups = [(args[g], args[g + 1], args[g + 2], int(args[g + 3]), int(args[g + 4])) for g in range(0, len(args), 5)]
for g in groups:
    prepare(*g)
for g in groups:
    send(*g)
