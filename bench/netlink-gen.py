#!/usr/bin/python3
# A steady stream of conntrack events at a chosen rate, for
# bench/netlink-vs-conntrack.mjs: entries are created and deleted through
# ctnetlink itself (IPCTNL_MSG_CT_NEW / _DELETE, many per sendmsg), so the
# kernel emits NEW and DESTROY events through the same ctnetlink_conntrack_event
# path as for packet-made entries, at rates hping3 cannot reach on 2 shared
# cores. Each entry lives LIFETIME seconds. Run inside the namespace.
#
#   netlink-gen.py RATE_EVENTS_PER_S SECONDS
# prints {"created":N,"deleted":N,"errors":N,"seconds":S} on stdout.
import json
import os
import socket
import struct
import sys
import time

NETLINK_NETFILTER = 12
NFNL_SUBSYS_CTNETLINK = 1
IPCTNL_MSG_CT_NEW, IPCTNL_MSG_CT_DELETE = 0, 2
NLM_F_REQUEST, NLM_F_CREATE, NLM_F_EXCL = 0x1, 0x400, 0x200
NLA_F_NESTED = 0x8000
CTA_TUPLE_ORIG, CTA_TUPLE_REPLY, CTA_TIMEOUT = 1, 2, 7
CTA_TUPLE_IP, CTA_TUPLE_PROTO = 1, 2
CTA_IP_V4_SRC, CTA_IP_V4_DST = 1, 2
CTA_PROTO_NUM, CTA_PROTO_SRC_PORT, CTA_PROTO_DST_PORT = 1, 2, 3
TICK = 0.005
LIFETIME = 1.0


def attr(t, payload):
    ln = 4 + len(payload)
    return struct.pack('=HH', ln, t) + payload + b'\0' * ((4 - ln % 4) % 4)


def tuple_attr(t, src, dst, sport, dport):
    ip = attr(CTA_TUPLE_IP | NLA_F_NESTED, attr(CTA_IP_V4_SRC, src) + attr(CTA_IP_V4_DST, dst))
    proto = attr(CTA_TUPLE_PROTO | NLA_F_NESTED,
                 attr(CTA_PROTO_NUM, b'\x11') + attr(CTA_PROTO_SRC_PORT, struct.pack('!H', sport)) +
                 attr(CTA_PROTO_DST_PORT, struct.pack('!H', dport)))
    return attr(t | NLA_F_NESTED, ip + proto)


def message(kind, flags, seq, n):
    # flow n: 10.<n>.x.y:port -> 10.255.0.1:9, unique for n < 2^32
    src = struct.pack('!I', (10 << 24) | ((n >> 8) & 0xffffff))
    dst = socket.inet_aton('10.255.0.1')
    sport = 1024 + (n & 0xff)
    body = tuple_attr(CTA_TUPLE_ORIG, src, dst, sport, 9)
    if kind == IPCTNL_MSG_CT_NEW:
        body += tuple_attr(CTA_TUPLE_REPLY, dst, src, 9, sport) + attr(CTA_TIMEOUT, struct.pack('!I', 600))
    hdr_len = 16 + 4 + len(body)
    return struct.pack('=IHHII', hdr_len, (NFNL_SUBSYS_CTNETLINK << 8) | kind, NLM_F_REQUEST | flags, seq, 0) + \
        struct.pack('=BBH', socket.AF_INET, 0, 0) + body


CHUNK = 100  # messages per sendmsg (one skb; nfnetlink walks every message in it)


def chunks(kind, flags, total):
    """All messages built before the clock starts: the loop only sends."""
    out = []
    for base in range(0, total, CHUNK):
        out.append(b''.join(message(kind, flags, base + i, base + i) for i in range(min(CHUNK, total - base))))
    return out


def drain(s):
    errors = 0
    try:
        while True:
            data = s.recv(1 << 16)
            off = 0
            while off + 20 <= len(data):
                ln, typ = struct.unpack_from('=IH', data, off)
                if typ == 2:  # NLMSG_ERROR
                    (err,) = struct.unpack_from('=i', data, off + 16)
                    if err != 0:
                        errors += 1
                if ln == 0:
                    break
                off += (ln + 3) & ~3
    except BlockingIOError:
        pass
    return errors


def main():
    rate = float(sys.argv[1])
    seconds = float(sys.argv[2])
    per_s = rate / 2  # each entry: one NEW and one DESTROY
    total = int(per_s * seconds)
    news = chunks(IPCTNL_MSG_CT_NEW, NLM_F_CREATE | NLM_F_EXCL, total)
    dels = chunks(IPCTNL_MSG_CT_DELETE, 0, total)
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    s.bind((0, 0))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 << 20)
    s.setsockopt(socket.SOL_SOCKET, 33, 8 << 20)  # SO_RCVBUFFORCE: room for error replies
    s.setblocking(False)
    errors = 0
    ni = di = 0
    t0 = time.monotonic()
    while di < len(dels):
        now = time.monotonic() - t0
        want_new = min(len(news), int(per_s * now / CHUNK))
        want_del = min(len(dels), int(per_s * max(0.0, now - LIFETIME) / CHUNK))
        while ni < want_new:
            s.send(news[ni])
            ni += 1
        while di < min(want_del, ni):
            s.send(dels[di])
            di += 1
        errors += drain(s)
        time.sleep(TICK)
    errors += drain(s)
    print(json.dumps({'created': total, 'deleted': total, 'errors': errors, 'seconds': seconds,
                      'wall': round(time.monotonic() - t0, 3)}))


if __name__ == '__main__':
    main()
