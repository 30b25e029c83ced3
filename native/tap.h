/* podwire_tap: shared declarations of the TAP addon (see tap.c for the JS API). */
#ifndef PODWIRE_TAP_H
#define PODWIRE_TAP_H
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <node_api.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

/*
 * read/write/writev as raw system calls. In a multi-threaded process (Node always is) libc's
 * wrappers are cancellation points: each brackets the call with pthread_enable_asynccancel /
 * pthread_disable_asynccancel (atomic updates of the thread's cancel state), measurable at one
 * call per frame. The addon never cancels threads. Same contract: -1 and errno on failure.
 */
static inline ssize_t pw_read(int fd, void *buf, size_t len) { return syscall(SYS_read, fd, buf, len); }
static inline ssize_t pw_write(int fd, const void *buf, size_t len) { return syscall(SYS_write, fd, buf, len); }
static inline ssize_t pw_writev(int fd, const struct iovec *iov, int n) { return syscall(SYS_writev, fd, iov, n); }

/* writeBatch flags: prepend a zeroed virtio_net_hdr (no GSO, no checksum offload) to each frame. */
#define PW_TX_ZERO_VNET_HDR 1

/* Slots of the counters Float64Array; keep in sync with src/io/tap.ts (TapCounter). */
enum {
  C_RX_FRAMES, C_RX_BATCHES, C_RX_ERRORS, C_TX_FRAMES, C_TX_DROPS, C_TX_ERRORS,
  C_LAST_RX_ERRNO, C_LAST_TX_ERRNO, COUNTER_COUNT
};

/* Slots of a UDP socket's counters Float64Array: the TAP slots above, then these; keep in
 * sync with src/io/udp-socket.ts (UdpCounter). */
enum {
  U_KERNEL_DROPS = COUNTER_COUNT, /* sk_drops: datagrams the kernel dropped at this socket (SO_MEMINFO, updated by udpDrops) */
  U_RCVBUF,               /* SO_RCVBUF as granted (the kernel doubles the request) */
  U_SNDBUF,
  U_RCVBUF_FORCED,        /* 1: SO_RCVBUFFORCE worked; 0: SO_RCVBUF, capped by net.core.rmem_max */
  U_RX_TRUNCATED,         /* datagrams longer than a read slot (cut) */
  U_RX_BYTES,
  U_TX_BYTES,
  UDP_COUNTER_COUNT
};

/* The receive side of a UDP socket handle (udp.c): recvmmsg descriptors for `cap` datagrams. */
typedef struct {
  uint32_t cap;
  struct mmsghdr *msgs;
  struct iovec *iovs;
  struct sockaddr_in *names;
  uint32_t *addrs;        /* JS Uint32Array: per datagram (IPv4, port) of the sender */
  napi_ref addrs_ref;
} UdpRx;

/* The receive ring of an AF_PACKET socket handle (packet.c). */
typedef struct PacketRing PacketRing;

/* One open TAP device or UDP socket; owned by a napi_external (see the lifetime note in tap.c). */
typedef struct {
  napi_env env;
  int fd;                 /* -1 once closed */
  char name[32];          /* TAP: the device name; UDP: "IPv4:port" as bound */
  const char *kind;       /* "TAP device" or "UDP socket", the subject of error messages */
  UdpRx *udp;             /* NULL for a TAP device */
  PacketRing *pkt;        /* an AF_PACKET socket's TPACKET_V3 ring (packet.c), else NULL */
  uv_poll_t *poll;        /* NULL unless initialised; freed in on_poll_closed */
  bool reading;
  bool ref;               /* whether the poll handle keeps the loop alive */
  napi_ref self_ref;      /* weak (0) normally, strong (1) while reading */
  napi_ref cb_ref, slab_ref, lens_ref, offs_ref, counters_ref;
  napi_async_context async_ctx;
  napi_async_context cb_ctx; /* the context of the callback in flight: destroyed after it returns */
  uint8_t *slab;
  size_t slab_len;
  size_t slot_size;       /* bytes per read: the slot (slot mode) or the most a frame may take */
  int32_t *offs;          /* NULL: frame i at slab[i * slot_size]; else at slab[offs[i]] (pool slots) */
  int32_t *lens;
  int vnet_hdr_sz;        /* 0 without IFF_VNET_HDR, else 10 or 12 */
  uint32_t batch;
  double *counters;       /* COUNTER_COUNT doubles, kept alive by counters_ref */
} TapHandle;

#define CHECK(call)                                                        \
  do {                                                                     \
    if ((call) != napi_ok) {                                               \
      pw_throw_last(env, #call);                                           \
      return NULL;                                                         \
    }                                                                      \
  } while (0)

/* tap.c */
void pw_finalize_handle(napi_env env, void *data, void *hint);

/*
 * Latency probe (tools/bench/tap-latency.mjs), off unless setLatencyProbe(Float64Array) was
 * called: then every TAP wake-up appends a record of CLOCK_MONOTONIC nanoseconds (the clock
 * of process.hrtime) to the array. Off, the cost is one NULL test per wake-up and per
 * writeBatch. Layout: probe[0] records written, probe[1] capacity, probe[2] CLOCK_REALTIME -
 * CLOCK_MONOTONIC (ns) when enabled; record r at PW_PROBE_HDR + r * PW_PROBE_REC:
 */
enum {
  P_FD,          /* the fd that woke */
  P_WAKE,        /* on_readable entered (epoll_wait returned, libuv dispatched) */
  P_READ,        /* the read loop done (frames in the slab) */
  P_JS,          /* JS callback entered (written by the tool's wrapper, 0 if none) */
  P_FLUSH,       /* TapPort.flush entered (written by the tool's wrapper) */
  P_WB,          /* first writeBatch of the callback entered the addon */
  P_WRITE0,      /* first write() of it began */
  P_WRITE1,      /* last write() of the callback returned */
  P_RET,         /* the JS callback returned to on_readable */
  P_FRAMES,      /* frames read */
  P_WFD,         /* fd of the first write */
  P_WRITES,      /* frames written during the callback */
  P_REREAD,      /* 1: a read after a write within the same wake-up (tap_poll.c), not an epoll wake-up */
  PW_PROBE_REC = 13
};
#define PW_PROBE_HDR 4
extern double *pw_probe;       /* NULL: off */
extern double *pw_probe_cur;   /* the record of the wake-up in flight, or NULL */
static inline double pw_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}
napi_value tap_set_latency_probe(napi_env env, napi_callback_info info);

/* tap_errors.c */
void pw_throw_last(napi_env env, const char *what);
const char *pw_errno_name(int err, char *buf, size_t len);
napi_value pw_errno_error(napi_env env, int err, const char *syscall, const char *device, const char *hint);
napi_value pw_errno_error_of(napi_env env, int err, const char *syscall, const char *kind, const char *device, const char *hint);
void pw_throw_open_error(napi_env env, int err, const char *syscall, const char *device);
TapHandle *pw_get_handle(napi_env env, napi_value v);

/* tap_poll.c */
void pw_drop_ref(napi_env env, napi_ref *ref);
void pw_stop_reading(TapHandle *t);
void pw_close_handle(TapHandle *t);
napi_value tap_read_start(napi_env env, napi_callback_info info);
napi_value tap_read_stop(napi_env env, napi_callback_info info);
napi_value tap_set_ref(napi_env env, napi_callback_info info);
void pw_note_written(TapHandle *t);
extern bool pw_reread_on;
void pw_forget_written(TapHandle *t);

/* udp.c */
uint32_t pw_udp_read(TapHandle *t, int *err);
void pw_udp_free(UdpRx *u, napi_env env);
napi_value udp_open(napi_env env, napi_callback_info info);
napi_value udp_send(napi_env env, napi_callback_info info);
napi_value udp_send_batch(napi_env env, napi_callback_info info);
napi_value udp_drops(napi_env env, napi_callback_info info);

/* packet.c */
uint32_t pw_packet_read(TapHandle *t, int *err);
void pw_packet_free(TapHandle *t);
napi_value packet_open(napi_env env, napi_callback_info info);

#endif
