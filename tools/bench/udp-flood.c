/*
 * udp-flood: the 64-byte-frame generator and sink of the benchmarks (tools/bench/kernel.mjs,
 * the Linux kernel forwarding the fwd.* topologies; tools/bench/tap.mjs, the TAP paths).
 * iperf3 -u -l 18 is generator-bound at ~0.1 Mpps on a small machine; sendmmsg batches 64
 * datagrams per call. Compiled at bench time (cc -O2) into a temporary directory.
 *
 *   udp-flood send DST_IP PORT SECONDS   18-byte UDP payloads from source port 40000
 *                                        (14 + 20 + 8 + 18 = 60 bytes, 64 with the FCS)
 *                                        for SECONDS; prints the datagrams the socket accepted
 *   udp-flood sink PORT                  binds PORT, prints "ready", drains it with
 *                                        recvmmsg until killed
 *
 * Deliveries are counted by the kernel at the receiver (kernel.mjs: Udp InDatagrams of
 * /proc/net/snmp; tap.mjs: rx_packets of the receiving eth0).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int do_send(const char *ip, int port, double seconds) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in from = { .sin_family = AF_INET, .sin_port = htons(40000) };
  struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons((unsigned short)port) };
  if (fd < 0 || inet_pton(AF_INET, ip, &to.sin_addr) != 1) { perror("udp-flood send"); return 1; }
  if (bind(fd, (struct sockaddr *)&from, sizeof from) < 0) { perror("bind 40000"); return 1; }
  if (connect(fd, (struct sockaddr *)&to, sizeof to) < 0) { perror("connect"); return 1; }
  static char payload[18];
  struct iovec iov[BATCH];
  struct mmsghdr msgs[BATCH];
  memset(msgs, 0, sizeof msgs);
  for (int i = 0; i < BATCH; i++) {
    iov[i].iov_base = payload;
    iov[i].iov_len = sizeof payload;
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  double end = now() + seconds;
  unsigned long sent = 0;
  while (now() < end) {
    int r = sendmmsg(fd, msgs, BATCH, 0);
    if (r > 0) sent += (unsigned long)r;
    else if (r < 0 && errno != ENOBUFS && errno != EAGAIN && errno != ECONNREFUSED && errno != EINTR) {
      perror("sendmmsg");
      return 1;
    }
  }
  printf("%lu\n", sent);
  return 0;
}

static int do_sink(int port) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  int rcvbuf = 8 << 20;
  struct sockaddr_in at = { .sin_family = AF_INET, .sin_port = htons((unsigned short)port) };
  if (fd < 0) { perror("socket"); return 1; }
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  if (bind(fd, (struct sockaddr *)&at, sizeof at) < 0) { perror("bind"); return 1; }
  static char bufs[BATCH][64];
  struct iovec iov[BATCH];
  struct mmsghdr msgs[BATCH];
  memset(msgs, 0, sizeof msgs);
  for (int i = 0; i < BATCH; i++) {
    iov[i].iov_base = bufs[i];
    iov[i].iov_len = sizeof bufs[i];
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  printf("ready\n");
  fflush(stdout);
  for (;;) {
    if (recvmmsg(fd, msgs, BATCH, 0, NULL) < 0 && errno != EINTR) { perror("recvmmsg"); return 1; }
  }
}

int main(int argc, char **argv) {
  if (argc >= 5 && strcmp(argv[1], "send") == 0) return do_send(argv[2], atoi(argv[3]), atof(argv[4]));
  if (argc >= 3 && strcmp(argv[1], "sink") == 0) return do_sink(atoi(argv[2]));
  fprintf(stderr, "usage: udp-flood send DST_IP PORT SECONDS | udp-flood sink PORT\n");
  return 2;
}
