/*
 * udp-flood: a 64-byte-frame generator and sink for tools/bench/tap.mjs (iperf3 -u -l 18
 * is generator-bound at ~0.1 Mpps on a small machine; sendmmsg batches 64 datagrams per call).
 *
 *   udp-flood send DST_IP PORT SECONDS   18-byte UDP payloads (14 + 20 + 8 + 18 = 60 bytes,
 *                                        64 on the wire with the FCS) as fast as possible
 *   udp-flood sink PORT                  binds PORT and drains it with recvmmsg until killed
 *
 * The benchmark counts at the receiver: rx_packets of the receiving namespace's eth0.
 * Build: cc -O2 -o udp-flood udp-flood.c
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

int main(int argc, char **argv) {
  if (argc >= 5 && strcmp(argv[1], "send") == 0) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argv[3])) };
    if (fd < 0 || inet_pton(AF_INET, argv[2], &to.sin_addr) != 1) { perror("send setup"); return 1; }
    if (connect(fd, (struct sockaddr *)&to, sizeof to) < 0) { perror("connect"); return 1; }
    static char payload[18] = "podwire-udp-flood";
    struct iovec iov[BATCH];
    struct mmsghdr msgs[BATCH];
    memset(msgs, 0, sizeof msgs);
    for (int i = 0; i < BATCH; i++) {
      iov[i].iov_base = payload; iov[i].iov_len = sizeof payload;
      msgs[i].msg_hdr.msg_iov = &iov[i]; msgs[i].msg_hdr.msg_iovlen = 1;
    }
    double end = now() + atof(argv[4]);
    unsigned long sent = 0;
    while (now() < end) {
      int r = sendmmsg(fd, msgs, BATCH, 0);
      if (r > 0) sent += (unsigned long)r;
      else if (r < 0 && errno != ENOBUFS && errno != EAGAIN && errno != ECONNREFUSED) { perror("sendmmsg"); return 1; }
    }
    printf("%lu\n", sent);
    return 0;
  }
  if (argc >= 3 && strcmp(argv[1], "sink") == 0) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in at = { .sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argv[2])) };
    if (fd < 0 || bind(fd, (struct sockaddr *)&at, sizeof at) < 0) { perror("bind"); return 1; }
    static char bufs[BATCH][64];
    struct iovec iov[BATCH];
    struct mmsghdr msgs[BATCH];
    memset(msgs, 0, sizeof msgs);
    for (int i = 0; i < BATCH; i++) {
      iov[i].iov_base = bufs[i]; iov[i].iov_len = sizeof bufs[i];
      msgs[i].msg_hdr.msg_iov = &iov[i]; msgs[i].msg_hdr.msg_iovlen = 1;
    }
    printf("ready\n");
    fflush(stdout);
    for (;;) if (recvmmsg(fd, msgs, BATCH, 0, NULL) < 0 && errno != EINTR) { perror("recvmmsg"); return 1; }
  }
  fprintf(stderr, "usage: udp-flood send DST_IP PORT SECONDS | udp-flood sink PORT\n");
  return 2;
}
