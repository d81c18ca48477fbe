# Sends N UDP datagrams, each from a new socket (a new flow), with an IPv6
# Hop-by-Hop options header (one PadN option): argv DST N PORT. Used by
# test/kernel/ingress.test.ts.
import socket
import sys

IPV6_HOPOPTS = 54
dst, n, port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for i in range(n):
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    # next header (filled in by the kernel), length 0, PadN of 4
    s.setsockopt(socket.IPPROTO_IPV6, IPV6_HOPOPTS, bytes([0, 0, 1, 4, 0, 0, 0, 0]))
    s.sendto(b'x' * 16, (dst, port))
    s.close()
