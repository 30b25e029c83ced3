/*
 * tap-copier: the minimal C reference for podwire's TAP path. Opens two TAP devices, polls
 * both, and copies every frame read from one to the other (read until EAGAIN, one write per
 * frame, drop on EAGAIN), single-threaded, no batching tricks: what a small C switch does.
 *
 *   tap-copier TAP_A TAP_B [--vnet-hdr]
 *
 * --vnet-hdr: IFF_VNET_HDR on both, TUNSETOFFLOAD TUN_F_CSUM|TUN_F_TSO4|TUN_F_TSO6, and the
 * 10-byte virtio_net_hdr passed through untouched (GSO frames of up to 64 KiB go out whole).
 * Runs until SIGTERM/SIGINT; the TAPs are non-persistent and vanish with it.
 * Build: cc -O2 -o tap-copier tap-copier.c  (tools/bench/tap.mjs does it in a temp dir).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static int open_tap(const char *name, int vnet) {
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) { perror("open /dev/net/tun"); exit(1); }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (vnet ? IFF_VNET_HDR : 0);
  strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) { perror("TUNSETIFF"); exit(1); }
  if (vnet && ioctl(fd, TUNSETOFFLOAD, (unsigned long)(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6)) < 0) {
    perror("TUNSETOFFLOAD"); exit(1);
  }
  return fd;
}

int main(int argc, char **argv) {
  if (argc < 3) { fprintf(stderr, "usage: tap-copier TAP_A TAP_B [--vnet-hdr]\n"); return 2; }
  int vnet = argc > 3 && strcmp(argv[3], "--vnet-hdr") == 0;
  int fds[2] = { open_tap(argv[1], vnet), open_tap(argv[2], vnet) };
  static unsigned char buf[65536 + 64];
  struct pollfd pf[2] = { { fds[0], POLLIN, 0 }, { fds[1], POLLIN, 0 } };
  printf("ready\n");
  fflush(stdout);
  for (;;) {
    if (poll(pf, 2, -1) < 0) { if (errno == EINTR) continue; perror("poll"); return 1; }
    for (int i = 0; i < 2; i++) {
      if (!(pf[i].revents & POLLIN)) continue;
      for (;;) {
        ssize_t n = read(fds[i], buf, sizeof buf);
        if (n <= 0) break;
        if (write(fds[1 - i], buf, (size_t)n) < 0 && errno != EAGAIN) { /* dropped, like a full ring */ }
      }
    }
  }
}
