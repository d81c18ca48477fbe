// SPDX-License-Identifier: GPL-2.0-only
// Traffic for bench/node-cost.mjs, compiled at bench time (gcc -O2): the
// generator must not be what limits the rate, and Python or Node spend more
// CPU per connection than the kernel work being measured.
//
//   gen tcp-server PORT
//       accept() and close() forever (until killed), one process.
//   gen tcp ADDR PORT SECONDS SENDERS
//       SENDERS processes each connect() and close() as fast as they can;
//       close with SO_LINGER 0 (a RST, so no TIME_WAIT eats the client's
//       ports). Prints {"connections":N,"errors":N,"seconds":S}.
//   gen udp ADDR_BASE SECONDS SENDERS FLOWS RATE [SRC]
//       small UDP packets (18-byte payload) to ADDR_BASE's /16 (the last two
//       octets vary; a /32 ADDR_BASE: that one address, the port varies),
//       from SRC (default: the route's source address): FLOWS = 0 makes every packet a new flow (a new 5-tuple:
//       64 source ports per sender x 65,536 destinations), FLOWS > 0 cycles
//       that many flows (established). RATE packets/s in all (0: as fast as
//       possible), paced per millisecond. sendmmsg, 64 per call.
//       Prints {"packets":N,"errors":N,"seconds":S}.
//   gen ct RATE SECONDS
//       conntrack entries created and deleted through ctnetlink itself
//       (IPCTNL_MSG_CT_NEW / _DELETE, 100 per sendmsg; run it in the
//       namespace), each deleted 1 s after it was made: RATE events/s of
//       NEW + DESTROY, exactly, through the kernel's own event path, at
//       rates packets cannot reach here (bench/netlink-gen.py in C).
//       Prints {"created":N,"deleted":N,"errors":N,"seconds":S}.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

struct counts {
  volatile uint64_t ok, errors;
};

static int tcp_server(int port) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  if (bind(s, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(s, 65535) < 0) {
    perror("tcp-server");
    return 1;
  }
  struct linger l = {1, 0};
  for (;;) {
    int c = accept(s, NULL, NULL);
    if (c < 0) continue;
    setsockopt(c, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    close(c);
  }
}

static void tcp_sender(struct counts *c, const char *addr, int port, double until) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  inet_pton(AF_INET, addr, &a.sin_addr);
  struct linger l = {1, 0};
  uint64_t n = 0;
  while ((n & 63) || now_s() < until) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(s, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    if (connect(s, (struct sockaddr *)&a, sizeof(a)) == 0)
      c->ok++;
    else
      c->errors++;
    close(s);
    n++;
  }
}

#define VLEN 64
#define PORTS 64

static void udp_sender(struct counts *c, int idx, uint32_t base, uint32_t mask, uint32_t src, double until, uint32_t flows, double rate) {
  int socks[PORTS];
  int nsocks = flows ? 1 : PORTS;
  for (int i = 0; i < nsocks; i++) {
    socks[i] = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in b = {.sin_family = AF_INET, .sin_port = htons(20000 + idx * PORTS + i)};
    b.sin_addr.s_addr = src;
    if (bind(socks[i], (struct sockaddr *)&b, sizeof(b)) < 0) {
      perror("bind");
      exit(1);
    }
  }
  char payload[18] = "ctscope-node-cost";
  struct sockaddr_in dst[VLEN];
  struct iovec iov[VLEN];
  struct mmsghdr msgs[VLEN];
  memset(msgs, 0, sizeof(msgs));
  for (int i = 0; i < VLEN; i++) {
    iov[i].iov_base = payload;
    iov[i].iov_len = sizeof(payload);
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_hdr.msg_name = &dst[i];
    msgs[i].msg_hdr.msg_namelen = sizeof(dst[i]);
  }
  uint64_t seq = 0;
  int sock = 0;
  double start = now_s(), t = start;
  uint64_t sent = 0;
  while (t < until) {
    unsigned n = VLEN;
    if (rate > 0) {
      // pace: what the elapsed time allows, else sleep a millisecond
      double allowed = (t - start) * rate - (double)sent;
      if (allowed < 1) {
        usleep(1000);
        t = now_s();
        continue;
      }
      if (allowed < n) n = (unsigned)allowed;
    }
    for (unsigned i = 0; i < n; i++) {
      // one address: 65,535 ports per source port (1..65535), else 65,536 addresses
      uint32_t k = flows ? (uint32_t)(seq % flows) : mask ? (uint32_t)(seq & 0xffff) : (uint32_t)(seq % 65535);
      dst[i].sin_family = AF_INET;
      // one destination address: the port makes the flow
      dst[i].sin_port = htons(mask ? 9 : 1 + k);
      dst[i].sin_addr.s_addr = htonl(base | (k & mask));
      seq++;
    }
    int r = sendmmsg(socks[sock], msgs, n, 0);
    if (r > 0) {
      c->ok += r;
      sent += r;
    } else {
      c->errors++;
    }
    // a new source port every 65,536 destinations: every packet a new tuple
    if (!flows && (mask ? (seq & 0xffff) : (seq % 65535)) < n) sock = (sock + 1) % nsocks;
    t = now_s();
  }
}

// ---- ctnetlink entries ----

static size_t put_attr(uint8_t *p, uint16_t type, const void *data, size_t len) {
  struct nlattr a = {.nla_len = (uint16_t)(NLA_HDRLEN + len), .nla_type = type};
  memcpy(p, &a, sizeof(a));
  if (len) memcpy(p + NLA_HDRLEN, data, len);
  size_t total = NLA_ALIGN(NLA_HDRLEN + len);
  memset(p + NLA_HDRLEN + len, 0, total - NLA_HDRLEN - len);
  return total;
}

static size_t put_tuple(uint8_t *p, uint16_t type, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport) {
  uint8_t ip[64], proto[64];
  size_t ipl = 0, pl = 0;
  ipl += put_attr(ip + ipl, CTA_IP_V4_SRC, &src, 4);
  ipl += put_attr(ip + ipl, CTA_IP_V4_DST, &dst, 4);
  uint8_t num = IPPROTO_UDP;
  pl += put_attr(proto + pl, CTA_PROTO_NUM, &num, 1);
  pl += put_attr(proto + pl, CTA_PROTO_SRC_PORT, &sport, 2);
  pl += put_attr(proto + pl, CTA_PROTO_DST_PORT, &dport, 2);
  uint8_t body[160];
  size_t bl = 0;
  bl += put_attr(body + bl, CTA_TUPLE_IP | NLA_F_NESTED, ip, ipl);
  bl += put_attr(body + bl, CTA_TUPLE_PROTO | NLA_F_NESTED, proto, pl);
  return put_attr(p, type | NLA_F_NESTED, body, bl);
}

// flow n: 10.<n>.x.y:port -> 10.255.0.1:9 (network order), unique for n < 2^32
static size_t ct_message(uint8_t *p, int create, uint32_t seq, uint32_t n) {
  uint32_t src = htonl((10u << 24) | ((n >> 8) & 0xffffff)), dst = htonl(0x0aff0001);
  uint16_t sport = htons(1024 + (n & 0xff)), dport = htons(9);
  struct nlmsghdr *h = (struct nlmsghdr *)p;
  struct nfgenmsg *g = (struct nfgenmsg *)(p + NLMSG_HDRLEN);
  size_t off = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(*g));
  off += put_tuple(p + off, CTA_TUPLE_ORIG, src, dst, sport, dport);
  if (create) {
    off += put_tuple(p + off, CTA_TUPLE_REPLY, dst, src, dport, sport);
    uint32_t timeout = htonl(600);
    off += put_attr(p + off, CTA_TIMEOUT, &timeout, 4);
  }
  h->nlmsg_len = off;
  h->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | (create ? IPCTNL_MSG_CT_NEW : IPCTNL_MSG_CT_DELETE);
  h->nlmsg_flags = NLM_F_REQUEST | (create ? NLM_F_CREATE | NLM_F_EXCL : 0);
  h->nlmsg_seq = seq;
  h->nlmsg_pid = 0;
  g->nfgen_family = AF_INET;
  g->version = NFNETLINK_V0;
  g->res_id = 0;
  return off;
}

static uint64_t ct_drain(int s) {
  static uint8_t buf[1 << 16];
  uint64_t errors = 0;
  for (;;) {
    ssize_t n = recv(s, buf, sizeof(buf), MSG_DONTWAIT);
    if (n <= 0) return errors;
    size_t len = (size_t)n;
    for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len))
      if (h->nlmsg_type == NLMSG_ERROR && ((struct nlmsgerr *)NLMSG_DATA(h))->error != 0) errors++;
  }
}

#define CHUNK 100

static int ct_gen(double rate, double seconds) {
  double per_s = rate / 2;  // each entry: one NEW and one DESTROY
  uint64_t total = (uint64_t)(per_s * seconds);
  int s = socket(AF_NETLINK, SOCK_RAW, NETLINK_NETFILTER);
  struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
  if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
    perror("ctnetlink");
    return 1;
  }
  int sz = 8 << 20;
  setsockopt(s, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
  setsockopt(s, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz));
  static uint8_t msg[CHUNK * 256];
  uint64_t made = 0, deleted = 0, errors = 0;
  double t0 = now_s();
  while (deleted < total) {
    double t = now_s() - t0;
    uint64_t want_new = (uint64_t)(per_s * t), want_del = t > 1.0 ? (uint64_t)(per_s * (t - 1.0)) : 0;
    if (want_new > total) want_new = total;
    if (want_del > made) want_del = made;
    while (made < want_new || deleted < want_del) {
      int create = made < want_new;
      uint64_t *k = create ? &made : &deleted;
      uint64_t lim = create ? want_new : want_del;
      size_t off = 0;
      unsigned i;
      for (i = 0; i < CHUNK && *k < lim; i++, (*k)++) off += ct_message(msg + off, create, (uint32_t)*k, (uint32_t)*k);
      if (send(s, msg, off, 0) < 0) errors += i;
    }
    errors += ct_drain(s);
    usleep(2000);
  }
  errors += ct_drain(s);
  printf("{\"created\":%llu,\"deleted\":%llu,\"errors\":%llu,\"seconds\":%.3f}\n", (unsigned long long)made,
         (unsigned long long)deleted, (unsigned long long)errors, now_s() - t0 - 1.0);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 4 && !strcmp(argv[1], "ct")) return ct_gen(atof(argv[2]), atof(argv[3]));
  if (argc >= 3 && !strcmp(argv[1], "tcp-server")) return tcp_server(atoi(argv[2]));
  int tcp = argc == 6 && !strcmp(argv[1], "tcp");
  int udp = (argc == 7 || argc == 8) && !strcmp(argv[1], "udp");
  if (!tcp && !udp) {
    fprintf(stderr, "usage: gen tcp-server PORT | gen tcp ADDR PORT SECONDS SENDERS | gen udp ADDR_BASE SECONDS SENDERS FLOWS RATE [SRC] | gen ct RATE SECONDS\n");
    return 2;
  }
  double seconds = atof(argv[tcp ? 4 : 3]);
  int senders = atoi(argv[tcp ? 5 : 4]);
  if (senders < 1 || senders > 64 || seconds <= 0) return 2;
  struct counts *c = mmap(NULL, sizeof(struct counts) * 64, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  uint32_t base = 0, mask = 0xffff, src = INADDR_ANY;
  if (udp) {
    struct in_addr ia;
    inet_pton(AF_INET, argv[2], &ia);
    base = ntohl(ia.s_addr);
    if (base & 0xffff)
      mask = 0;  // a host address
    else
      base &= 0xffff0000u;
    if (argc == 8) {
      inet_pton(AF_INET, argv[7], &ia);
      src = ia.s_addr;
    }
  }
  double start = now_s(), until = start + seconds;
  for (int i = 0; i < senders; i++) {
    if (fork() == 0) {
      if (tcp)
        tcp_sender(&c[i], argv[2], atoi(argv[3]), until);
      else
        udp_sender(&c[i], i, base, mask, src, until, (uint32_t)atol(argv[5]), atof(argv[6]) / senders);
      _exit(0);
    }
  }
  while (wait(NULL) > 0) {
  }
  double took = now_s() - start;
  uint64_t ok = 0, err = 0;
  for (int i = 0; i < senders; i++) ok += c[i].ok, err += c[i].errors;
  printf("{\"%s\":%llu,\"errors\":%llu,\"seconds\":%.3f}\n", tcp ? "connections" : "packets", (unsigned long long)ok, (unsigned long long)err, took);
  return 0;
}
