/*
 * podwire_tap: a UDP (IPv4) socket as a handle of the same kind as a TAP device, so it is
 * read by the same uv_poll machinery (tap_poll.c): readStart/readStop/setRef/close apply.
 *
 *   udpOpen(host, port, rcvbuf, sndbuf, batch, counters, addrs) -> { handle, fd, name, port }
 *       socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK), then the receive buffer: SO_RCVBUFFORCE
 *       (needs CAP_NET_ADMIN, ignores net.core.rmem_max), falling back to SO_RCVBUF (capped
 *       by rmem_max); the kernel doubles the request for its bookkeeping and the size it
 *       granted (getsockopt) goes to counters[U_RCVBUF] (U_RCVBUF_FORCED: which call
 *       worked). The same for the send buffer. Then bind (port 0: the kernel chooses; the
 *       result comes back in `port`). 0 for rcvbuf/sndbuf keeps the default.
 *       `counters` is a Float64Array(UDP_COUNTER_COUNT): the TAP slots, then U_*.
 *       `addrs` is a Uint32Array(2 * batch): per datagram of a batch, sender IPv4 and port.
 *   readStart(handle, slab, slotSize, lengths, batch, cb)   (tap_poll.c)
 *       When readable, recvmmsg of up to `batch` datagrams into slab[i * slotSize ..], then cb;
 *       again (tap_poll.c read_udp: up to 16 times per wake-up) while a batch comes back full:
 *       lengths[i] = the datagram's length (MSG_TRUNC: its real length, so a value above
 *       slotSize means it was cut to slotSize, counted in U_RX_TRUNCATED), addrs[2i],
 *       addrs[2i + 1] = sender; cb(count) once per batch. An error other than EAGAIN is counted
 *       (rxErrors, lastRxErrno) and reading goes on, unless the socket itself is unusable
 *       (EBADF, ENOTSOCK, EFAULT, EINVAL): then cb(0, err) and reading stops.
 *   udpSend(handle, buf, off, len, ip, port) -> bool
 *       One sendto() from buf (the kernel copies: the buffer is free again on return);
 *       false on EAGAIN (txDrops) or another errno (txErrors, lastTxErrno).
 *   udpSendBatch(handle, slab, offsets, lengths, addrs, count) -> sent
 *       sendmmsg() of count datagrams; EAGAIN drops the rest (txDrops), a datagram failing
 *       with another errno is skipped (txErrors).
 *   udpDrops(handle) -> number
 *       The socket's drop counter now: getsockopt(SO_MEMINFO)[SK_MEMINFO_DROPS], the
 *       `drops` column of /proc/net/udp and `d` of `ss -uam`; also stored in U_KERNEL_DROPS.
 *
 * Drops are read with SO_MEMINFO, not SO_RXQ_OVFL: on Linux 6.18 (hardened usercopy) a
 * recvmmsg that returns the SO_RXQ_OVFL control message hit `kernel BUG at
 * mm/usercopy.c:102` in put_cmsg ("Kernel memory exposure attempt detected from SLUB
 * object"), which killed the process, as soon as the socket had dropped anything.
 *
 * System calls go through syscall() as in tap.h (libc's wrappers are cancellation points).
 */
#include "tap.h"
#include <arpa/inet.h>
#include <linux/sock_diag.h>

#define PW_UDP_TX_CHUNK 64

#ifndef SO_MEMINFO
#define SO_MEMINFO 55
#endif

void pw_udp_free(UdpRx *u, napi_env env) {
  pw_drop_ref(env, &u->addrs_ref);
  free(u->msgs);
  free(u->iovs);
  free(u->names);
  free(u);
}

uint32_t pw_udp_read(TapHandle *t, int *err) {
  UdpRx *u = t->udp;
  uint32_t want = t->batch;
  size_t slot = t->slot_size;
  if ((size_t)want * slot > t->slab_len) { *err = EINVAL; return 0; }
  for (uint32_t i = 0; i < want; i++) {
    struct msghdr *h = &u->msgs[i].msg_hdr;
    u->iovs[i].iov_base = t->slab + (size_t)i * slot;
    u->iovs[i].iov_len = slot;
    h->msg_name = &u->names[i];
    h->msg_namelen = sizeof u->names[i];
    h->msg_iov = &u->iovs[i];
    h->msg_iovlen = 1;
    h->msg_control = NULL;
    h->msg_controllen = 0;
    h->msg_flags = 0;
    u->msgs[i].msg_len = 0;
  }
  int r;
  do r = (int)syscall(SYS_recvmmsg, t->fd, u->msgs, want, MSG_DONTWAIT | MSG_TRUNC, NULL);
  while (r < 0 && errno == EINTR);
  if (r < 0) {
    int e = errno;
    if (e == EAGAIN || e == EWOULDBLOCK) return 0;
    if (e == EBADF || e == ENOTSOCK || e == EFAULT || e == EINVAL) { *err = e; return 0; } /* fatal: stop */
    /* Anything else (a pending socket error such as ENOMEM) is consumed by this call: count it, keep reading. */
    t->counters[C_RX_ERRORS] += 1;
    t->counters[C_LAST_RX_ERRNO] = e;
    return 0;
  }
  uint32_t n = (uint32_t)r;
  double bytes = 0;
  for (uint32_t i = 0; i < n; i++) {
    uint32_t len = u->msgs[i].msg_len;
    t->lens[i] = (int32_t)len;
    bytes += len;
    if ((u->msgs[i].msg_hdr.msg_flags & MSG_TRUNC) != 0 || len > slot) t->counters[U_RX_TRUNCATED] += 1;
    u->addrs[2 * i] = ntohl(u->names[i].sin_addr.s_addr);
    u->addrs[2 * i + 1] = ntohs(u->names[i].sin_port);
  }
  t->counters[U_RX_BYTES] += bytes;
  return n;
}

/* Sets a buffer size: the FORCE option first (CAP_NET_ADMIN), else the capped one. Returns whether FORCE worked. */
static bool set_buf(int fd, int force_opt, int opt, int bytes) {
  if (bytes <= 0) return false;
  if (setsockopt(fd, SOL_SOCKET, force_opt, &bytes, sizeof bytes) == 0) return true;
  setsockopt(fd, SOL_SOCKET, opt, &bytes, sizeof bytes);
  return false;
}

static int get_int(int fd, int opt) {
  int v = 0;
  socklen_t l = sizeof v;
  return getsockopt(fd, SOL_SOCKET, opt, &v, &l) == 0 ? v : 0;
}

static void throw_udp(napi_env env, int err, const char *syscall, const char *where) {
  char code[32], msg[256];
  pw_errno_name(err, code, sizeof code);
  snprintf(msg, sizeof msg, "UDP socket %s: %s failed: %s (%s)", where, syscall, code, strerror(err));
  napi_throw(env, pw_errno_error_of(env, err, syscall, "UDP socket", where, msg));
}

napi_value udp_open(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 7) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS", "udpOpen(host, port, rcvbuf, sndbuf, batch, counters, addrs)");
    return NULL;
  }
  char host[24]; /* an IPv4 dotted quad; longer strings are cut and fail inet_pton */
  size_t host_len = 0;
  uint32_t port, batch;
  int32_t rcvbuf, sndbuf;
  napi_typedarray_type ctype, atype;
  size_t clen, alen;
  void *cdata, *adata;
  struct in_addr ip;
  if (napi_get_value_string_utf8(env, argv[0], host, sizeof host, &host_len) != napi_ok ||
      napi_get_value_uint32(env, argv[1], &port) != napi_ok || port > 65535 ||
      napi_get_value_int32(env, argv[2], &rcvbuf) != napi_ok ||
      napi_get_value_int32(env, argv[3], &sndbuf) != napi_ok ||
      napi_get_value_uint32(env, argv[4], &batch) != napi_ok || batch == 0 || batch > 1024 ||
      napi_get_typedarray_info(env, argv[5], &ctype, &clen, &cdata, NULL, NULL) != napi_ok ||
      ctype != napi_float64_array || clen < UDP_COUNTER_COUNT ||
      napi_get_typedarray_info(env, argv[6], &atype, &alen, &adata, NULL, NULL) != napi_ok ||
      atype != napi_uint32_array || alen < 2 * (size_t)batch) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE",
                          "udpOpen: need an IPv4 string, a port, buffer sizes, a batch of 1..1024, "
                          "a Float64Array of UDP_COUNTER_COUNT counters and a Uint32Array of 2 * batch");
    return NULL;
  }
  char where[48];
  snprintf(where, sizeof where, "%s:%u", host, port);
  if (inet_pton(AF_INET, host, &ip) != 1) {
    napi_throw(env, pw_errno_error_of(env, EINVAL, "inet_pton", "UDP socket", where, "UDP socket: host is not an IPv4 address (EINVAL)"));
    return NULL;
  }
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) { throw_udp(env, errno, "socket", where); return NULL; }
  double *counters = (double *)cdata;
  counters[U_RCVBUF_FORCED] = set_buf(fd, SO_RCVBUFFORCE, SO_RCVBUF, rcvbuf) ? 1 : 0;
  set_buf(fd, SO_SNDBUFFORCE, SO_SNDBUF, sndbuf);
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  sa.sin_addr = ip;
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
    int e = errno; close(fd); throw_udp(env, e, "bind", where); return NULL;
  }
  socklen_t sl = sizeof sa;
  if (getsockname(fd, (struct sockaddr *)&sa, &sl) == 0) port = ntohs(sa.sin_port);
  counters[U_RCVBUF] = get_int(fd, SO_RCVBUF);
  counters[U_SNDBUF] = get_int(fd, SO_SNDBUF);

  TapHandle *t = calloc(1, sizeof *t);
  UdpRx *u = calloc(1, sizeof *u);
  if (t != NULL) t->udp = u;
  if (u != NULL) {
    u->cap = batch;
    u->msgs = calloc(batch, sizeof *u->msgs);
    u->iovs = calloc(batch, sizeof *u->iovs);
    u->names = calloc(batch, sizeof *u->names);
    u->addrs = (uint32_t *)adata;
  }
  if (t == NULL || u == NULL || u->msgs == NULL || u->iovs == NULL || u->names == NULL) {
    close(fd);
    if (u != NULL) pw_udp_free(u, env);
    free(t);
    napi_throw_error(env, "ENOMEM", "podwire_tap: out of memory");
    return NULL;
  }
  t->env = env;
  t->fd = fd;
  t->ref = true;
  t->counters = counters;
  t->kind = "UDP socket";
  snprintf(t->name, sizeof t->name, "%s:%u", host, port);
  napi_value handle, result, v;
  if (napi_create_external(env, t, pw_finalize_handle, NULL, &handle) != napi_ok) {
    close(fd); pw_udp_free(u, env); free(t); pw_throw_last(env, "napi_create_external"); return NULL;
  }
  CHECK(napi_create_reference(env, handle, 0, &t->self_ref));
  CHECK(napi_create_reference(env, argv[5], 1, &t->counters_ref));
  CHECK(napi_create_reference(env, argv[6], 1, &u->addrs_ref));
  CHECK(napi_create_object(env, &result));
  CHECK(napi_set_named_property(env, result, "handle", handle));
  CHECK(napi_create_int32(env, fd, &v));
  CHECK(napi_set_named_property(env, result, "fd", v));
  CHECK(napi_create_string_utf8(env, t->name, NAPI_AUTO_LENGTH, &v));
  CHECK(napi_set_named_property(env, result, "name", v));
  CHECK(napi_create_uint32(env, port, &v));
  CHECK(napi_set_named_property(env, result, "port", v));
  return result;
}

static TapHandle *get_udp(napi_env env, napi_value v) {
  TapHandle *t = pw_get_handle(env, v);
  if (t != NULL && t->udp == NULL) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "podwire_tap: expected a UDP handle");
    return NULL;
  }
  return t;
}

/* 1 sent, 0 EAGAIN, -errno otherwise; counted. */
static int count_tx(TapHandle *t, ssize_t r, size_t len) {
  if (r >= 0) { t->counters[C_TX_FRAMES] += 1; t->counters[U_TX_BYTES] += (double)len; return 1; }
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) { t->counters[C_TX_DROPS] += 1; return 0; }
  t->counters[C_TX_ERRORS] += 1;
  t->counters[C_LAST_TX_ERRNO] = errno;
  return -errno;
}

napi_value udp_send(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6], out;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  TapHandle *t = argc >= 6 ? get_udp(env, argv[0]) : NULL;
  if (t == NULL) return NULL;
  void *buf;
  size_t buf_len;
  uint32_t off, len, ip, port;
  if (napi_get_buffer_info(env, argv[1], &buf, &buf_len) != napi_ok ||
      napi_get_value_uint32(env, argv[2], &off) != napi_ok ||
      napi_get_value_uint32(env, argv[3], &len) != napi_ok || (size_t)off + len > buf_len ||
      napi_get_value_uint32(env, argv[4], &ip) != napi_ok ||
      napi_get_value_uint32(env, argv[5], &port) != napi_ok || port > 65535) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "udpSend: need a Buffer, off + len within it, an IPv4 (uint32) and a port");
    return NULL;
  }
  int ok = 0;
  if (t->fd < 0) t->counters[C_TX_DROPS] += 1;
  else {
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(ip);
    ssize_t r;
    do r = syscall(SYS_sendto, t->fd, (uint8_t *)buf + off, (size_t)len, MSG_DONTWAIT, &sa, sizeof sa);
    while (r < 0 && errno == EINTR);
    ok = count_tx(t, r, len);
  }
  CHECK(napi_get_boolean(env, ok == 1, &out));
  return out;
}

napi_value udp_send_batch(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6], out;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  TapHandle *t = argc >= 6 ? get_udp(env, argv[0]) : NULL;
  if (t == NULL) return NULL;
  void *slab, *offs, *lens, *addrs;
  size_t slab_len, noffs, nlens, naddrs;
  napi_typedarray_type to, tl, ta;
  uint32_t count;
  if (napi_get_buffer_info(env, argv[1], &slab, &slab_len) != napi_ok ||
      napi_get_typedarray_info(env, argv[2], &to, &noffs, &offs, NULL, NULL) != napi_ok ||
      napi_get_typedarray_info(env, argv[3], &tl, &nlens, &lens, NULL, NULL) != napi_ok ||
      napi_get_typedarray_info(env, argv[4], &ta, &naddrs, &addrs, NULL, NULL) != napi_ok ||
      napi_get_value_uint32(env, argv[5], &count) != napi_ok ||
      (to != napi_int32_array && to != napi_uint32_array) || (tl != napi_int32_array && tl != napi_uint32_array) ||
      ta != napi_uint32_array || count > noffs || count > nlens || 2 * (size_t)count > naddrs) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE",
                           "udpSendBatch: need a Buffer, offsets and lengths of at least count, a Uint32Array of 2 * count (IPv4, port)");
    return NULL;
  }
  uint32_t sent = 0;
  if (t->fd < 0) t->counters[C_TX_DROPS] += count;
  else {
    struct mmsghdr msgs[PW_UDP_TX_CHUNK];
    struct iovec iovs[PW_UDP_TX_CHUNK];
    struct sockaddr_in names[PW_UDP_TX_CHUNK];
    const uint32_t *o = offs, *l = lens, *a = addrs;
    uint32_t i = 0;
    while (i < count) {
      uint32_t n = 0;
      for (; i < count && n < PW_UDP_TX_CHUNK; i++) {
        if ((uint64_t)o[i] + l[i] > slab_len || a[2 * i + 1] > 65535) { /* a bad descriptor: skipped */
          t->counters[C_TX_ERRORS] += 1;
          t->counters[C_LAST_TX_ERRNO] = EINVAL;
          continue;
        }
        memset(&names[n], 0, sizeof names[n]);
        names[n].sin_family = AF_INET;
        names[n].sin_addr.s_addr = htonl(a[2 * i]);
        names[n].sin_port = htons((uint16_t)a[2 * i + 1]);
        iovs[n].iov_base = (uint8_t *)slab + o[i];
        iovs[n].iov_len = l[i];
        memset(&msgs[n], 0, sizeof msgs[n]);
        msgs[n].msg_hdr.msg_name = &names[n];
        msgs[n].msg_hdr.msg_namelen = sizeof names[n];
        msgs[n].msg_hdr.msg_iov = &iovs[n];
        msgs[n].msg_hdr.msg_iovlen = 1;
        n++;
      }
      uint32_t k = 0;
      bool full = false;
      while (k < n) {
        int r = (int)syscall(SYS_sendmmsg, t->fd, msgs + k, n - k, MSG_DONTWAIT);
        if (r > 0) {
          for (int j = 0; j < r; j++) { t->counters[C_TX_FRAMES] += 1; t->counters[U_TX_BYTES] += (double)iovs[k + j].iov_len; }
          sent += (uint32_t)r;
          k += (uint32_t)r;
          continue;
        }
        if (r < 0 && errno == EINTR) continue;
        if (count_tx(t, -1, 0) == 0) { full = true; break; } /* EAGAIN: counted one, the rest below */
        k++; /* skip the failing datagram */
      }
      if (full) {
        t->counters[C_TX_DROPS] += (double)(n - k - 1) + (double)(count - i);
        break;
      }
    }
  }
  CHECK(napi_create_uint32(env, sent, &out));
  return out;
}

napi_value udp_drops(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  TapHandle *t = argc >= 1 ? get_udp(env, argv[0]) : NULL;
  if (t == NULL) return NULL;
  if (t->fd >= 0) {
    uint32_t mem[SK_MEMINFO_VARS];
    socklen_t l = sizeof mem;
    if (getsockopt(t->fd, SOL_SOCKET, SO_MEMINFO, mem, &l) == 0 && l > SK_MEMINFO_DROPS * sizeof(uint32_t)) {
      t->counters[U_KERNEL_DROPS] = mem[SK_MEMINFO_DROPS];
    }
  }
  CHECK(napi_create_double(env, t->counters[U_KERNEL_DROPS], &out));
  return out;
}
