/*
 * podwire_tap: an AF_PACKET socket on an existing interface (the host end of a container's
 * veth), as a port of the emulated network (src/io/packet.ts, docs/attach.md "mode veth").
 *
 * packetOpen(ifname, netnsPath, blockSize, blockCount, counters) opens the socket inside the
 * network namespace at netnsPath ("" for podwire's own: setns(2) on this thread, the socket
 * is made and bound, setns back; a socket stays in the namespace it was created in), with
 *   - PACKET_VNET_HDR: every frame is read behind a struct virtio_net_hdr, so the frames a
 *     container's kernel hands its veth with partial checksums or as 64 KiB TSO segments
 *     arrive with their offload state (TapPort's offload mode completes and segments them,
 *     src/io/tap-port-vnet.ts), and frames are written behind one (a zeroed one: plain);
 *   - a TPACKET_V3 receive ring (blockCount blocks of blockSize bytes, mmap'ed; a block is
 *     handed over when full or after tp_retire_blk_tov = 1 ms), read by the uv_poll machinery
 *     of tap_poll.c: each readiness event copies up to one batch of frames (virtio_net_hdr
 *     and frame) into the slab's slots, releasing every block it has emptied;
 *   - PACKET_IGNORE_OUTGOING: frames the interface sends (ours, and whatever the host's
 *     stack sends on it) are not read back.
 * Writes are the TAP's: write(2) of vnet header + frame on the bound socket (packet_snd).
 * Returns { handle, fd, name, ifindex }; the handle works with readStart/readStop/setRef/
 * writeBatch/close like a TAP's.
 */
#include "tap.h"
#include <linux/if_ether.h>
#include <linux/if_packet.h>
/* linux/if.h (tap.h) clashes with net/if.h; if_nametoindex is all this needs of it. */
extern unsigned int if_nametoindex(const char *ifname);
#include <sched.h>
#include <sys/mman.h>

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif

#define VNET_HDR_LEN 10 /* struct virtio_net_hdr */

struct PacketRing {
  uint8_t *map;
  size_t map_len;
  uint32_t block_size, block_count;
  uint32_t cur;           /* block being read */
  uint32_t left;          /* frames of it not yet read (0: not started) */
  struct tpacket3_hdr *next; /* the next frame of it */
};

void pw_packet_free(TapHandle *t) {
  PacketRing *r = t->pkt;
  if (r == NULL) return;
  if (r->map != NULL && r->map != MAP_FAILED) munmap(r->map, r->map_len);
  free(r);
  t->pkt = NULL;
}

/* Reads up to one batch of frames out of the ring into the slab's slots (vnet header first). */
uint32_t pw_packet_read(TapHandle *t, int *err) {
  PacketRing *r = t->pkt;
  uint32_t n = 0;
  *err = 0;
  while (n < t->batch) {
    struct tpacket_block_desc *b = (struct tpacket_block_desc *)(r->map + (size_t)r->cur * r->block_size);
    if ((__atomic_load_n(&b->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER) == 0) break;
    if (r->left == 0 && r->next == NULL) {
      r->left = b->hdr.bh1.num_pkts;
      r->next = (struct tpacket3_hdr *)((uint8_t *)b + b->hdr.bh1.offset_to_first_pkt);
    }
    while (r->left > 0 && n < t->batch) {
      struct tpacket3_hdr *h = r->next;
      size_t at = t->offs != NULL ? (size_t)(uint32_t)t->offs[n] : (size_t)n * t->slot_size;
      if (at + t->slot_size > t->slab_len) { *err = EINVAL; return n; }
      /* tp_mac is where the frame starts; the virtio_net_hdr sits just before it. */
      const uint8_t *src = (const uint8_t *)h + h->tp_mac - VNET_HDR_LEN;
      size_t len = (size_t)h->tp_snaplen + VNET_HDR_LEN;
      size_t copy = len < t->slot_size ? len : t->slot_size;
      memcpy(t->slab + at, src, copy);
      /* A frame cut by the ring (tp_len > tp_snaplen) reports its whole length: TapPort drops it as oversize. */
      t->lens[n++] = (int32_t)((size_t)h->tp_len + VNET_HDR_LEN);
      r->left--;
      r->next = r->left > 0 ? (struct tpacket3_hdr *)((uint8_t *)h + h->tp_next_offset) : NULL;
    }
    if (r->left == 0) {
      __atomic_store_n(&b->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
      r->next = NULL;
      r->cur = (r->cur + 1) % r->block_count;
    }
  }
  return n;
}

/* Enters the namespace at path (nothing for ""), returns the fd of the one to go back to, or -1/errno. */
static int enter_netns(const char *path, int *err) {
  if (path[0] == '\0') return -2;
  int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (self < 0) { *err = errno; return -1; }
  int target = open(path, O_RDONLY | O_CLOEXEC);
  if (target < 0) { *err = errno; close(self); return -1; }
  if (setns(target, CLONE_NEWNET) < 0) { *err = errno; close(target); close(self); return -1; }
  close(target);
  return self;
}

static void leave_netns(int self) {
  if (self < 0) return;
  if (setns(self, CLONE_NEWNET) < 0) abort(); /* this thread would stay in a foreign namespace */
  close(self);
}

napi_value packet_open(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 5) { napi_throw_type_error(env, "ERR_MISSING_ARGS", "packetOpen(ifname, netnsPath, blockSize, blockCount, counters)"); return NULL; }
  char name[IFNAMSIZ + 1], path[256];
  size_t nlen = 0, plen = 0;
  uint32_t block_size, block_count;
  napi_typedarray_type ctype;
  size_t clen;
  void *cdata;
  if (napi_get_value_string_utf8(env, argv[0], name, sizeof name, &nlen) != napi_ok || nlen == 0 || nlen >= IFNAMSIZ ||
      napi_get_value_string_utf8(env, argv[1], path, sizeof path, &plen) != napi_ok || plen >= sizeof path - 1 ||
      napi_get_value_uint32(env, argv[2], &block_size) != napi_ok ||
      napi_get_value_uint32(env, argv[3], &block_count) != napi_ok ||
      napi_get_typedarray_info(env, argv[4], &ctype, &clen, &cdata, NULL, NULL) != napi_ok ||
      ctype != napi_float64_array || clen < COUNTER_COUNT ||
      block_size < 65536 || (block_size & (block_size - 1)) != 0 || block_count < 2 || block_count > 1024) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE",
                          "packetOpen: need an interface name, a namespace path (or \"\"), a power-of-two block size >= 65536, 2-1024 blocks, a Float64Array of counters");
    return NULL;
  }
  int err = 0;
  int self = enter_netns(path, &err);
  if (self == -1) {
    char code[32], hint[400];
    snprintf(hint, sizeof hint, "cannot enter the network namespace %s: %s (%s; entering one needs root or CAP_SYS_ADMIN)", path, pw_errno_name(err, code, sizeof code), strerror(err));
    napi_throw(env, pw_errno_error_of(env, err, "setns", "packet socket", name, hint));
    return NULL;
  }
  const char *step = "socket";
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL));
  unsigned ifindex = 0;
  uint8_t *map = MAP_FAILED;
  size_t map_len = (size_t)block_size * block_count;
  if (fd < 0) { err = errno; goto fail; }
  step = "if_nametoindex";
  ifindex = if_nametoindex(name);
  if (ifindex == 0) { err = errno; goto fail; }
  int one = 1, v3 = TPACKET_V3;
  step = "setsockopt(PACKET_VNET_HDR)";
  if (setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof one) < 0) { err = errno; goto fail; }
  step = "setsockopt(PACKET_VERSION)";
  if (setsockopt(fd, SOL_PACKET, PACKET_VERSION, &v3, sizeof v3) < 0) { err = errno; goto fail; }
  step = "setsockopt(PACKET_IGNORE_OUTGOING)";
  if (setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) < 0) { err = errno; goto fail; }
  struct tpacket_req3 req;
  memset(&req, 0, sizeof req);
  req.tp_block_size = block_size;
  req.tp_block_nr = block_count;
  req.tp_frame_size = 2048;
  req.tp_frame_nr = (unsigned)(map_len / req.tp_frame_size);
  req.tp_retire_blk_tov = 1; /* ms: a partly filled block is handed over after this */
  step = "setsockopt(PACKET_RX_RING)";
  if (setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof req) < 0) { err = errno; goto fail; }
  step = "mmap";
  map = mmap(NULL, map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_LOCKED, fd, 0);
  if (map == MAP_FAILED) map = mmap(NULL, map_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (map == MAP_FAILED) { err = errno; goto fail; }
  struct sockaddr_ll sll;
  memset(&sll, 0, sizeof sll);
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(ETH_P_ALL);
  sll.sll_ifindex = (int)ifindex;
  step = "bind";
  if (bind(fd, (struct sockaddr *)&sll, sizeof sll) < 0) { err = errno; goto fail; }
  leave_netns(self);
  self = -2;

  TapHandle *t = calloc(1, sizeof *t);
  PacketRing *r = calloc(1, sizeof *r);
  if (t == NULL || r == NULL) { free(t); free(r); err = ENOMEM; step = "calloc"; goto fail; }
  r->map = map; r->map_len = map_len; r->block_size = block_size; r->block_count = block_count;
  t->env = env; t->fd = fd; t->kind = "packet socket"; t->pkt = r; t->ref = true;
  t->vnet_hdr_sz = VNET_HDR_LEN; t->counters = cdata;
  snprintf(t->name, sizeof t->name, "%s", name);
  napi_value handle, result, v;
  if (napi_create_external(env, t, pw_finalize_handle, NULL, &handle) != napi_ok) {
    pw_packet_free(t); close(fd); free(t); pw_throw_last(env, "napi_create_external"); return NULL;
  }
  CHECK(napi_create_reference(env, handle, 0, &t->self_ref));
  CHECK(napi_create_reference(env, argv[4], 1, &t->counters_ref));
  CHECK(napi_create_object(env, &result));
  CHECK(napi_set_named_property(env, result, "handle", handle));
  CHECK(napi_create_int32(env, fd, &v));
  CHECK(napi_set_named_property(env, result, "fd", v));
  CHECK(napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &v));
  CHECK(napi_set_named_property(env, result, "name", v));
  CHECK(napi_create_uint32(env, ifindex, &v));
  CHECK(napi_set_named_property(env, result, "ifindex", v));
  return result;

fail:
  if (map != MAP_FAILED) munmap(map, map_len);
  if (fd >= 0) close(fd);
  leave_netns(self);
  char code[32], hint[512];
  pw_errno_name(err, code, sizeof code);
  if (err == EPERM || err == EACCES)
    snprintf(hint, sizeof hint, "a packet socket on %s needs root or CAP_NET_RAW (and CAP_SYS_ADMIN to enter %s): %s in %s", name, path[0] ? path : "the namespace", code, step);
  else if (err == ENODEV && strcmp(step, "if_nametoindex") == 0)
    snprintf(hint, sizeof hint, "no interface %s in %s (%s)", name, path[0] ? path : "podwire's network namespace", code);
  else
    snprintf(hint, sizeof hint, "a packet socket on %s failed: %s in %s (%s)", name, code, step, strerror(err));
  napi_throw(env, pw_errno_error_of(env, err, step, "packet socket", name, hint));
  return NULL;
}
