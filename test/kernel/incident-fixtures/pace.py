#!/usr/bin/env python3
# Paced new UDP flows for the incident kernel tests: each datagram goes to a
# port not used before (a new conntrack entry, one packet: it expires its
# udp_timeout after it was sent), at RATE a second for SECONDS from SRC,
# ports FIRST.. (a new source port after 60,000). RATE 0: COUNT flows as
# fast as possible. Prints the number sent and the send times of the first
# and last (CLOCK_REALTIME) when done.
#
#   pace.py SRC DST FIRST RATE SECONDS     paced
#   pace.py SRC DST FIRST 0 COUNT          a burst
import socket
import sys
import time

src, dst, first, rate, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
count = int(n) if rate == 0 else int(rate * n)
socks = []


def sock():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((src, 0))
    socks.append(s)
    return s


s = sock()
t0 = time.time()
for i in range(count):
    if i and i % 60000 == 0:
        s = sock()
    port = 1024 + (first - 1024 + i) % 60000
    try:
        s.sendto(b'ctscope', (dst, port))
    except OSError:
        pass  # ENOBUFS/EPERM under a full table: the packet is still counted by nft
    if rate > 0:
        d = t0 + (i + 1) / rate - time.time()
        if d > 0:
            time.sleep(d)
print(count, t0, time.time(), flush=True)
