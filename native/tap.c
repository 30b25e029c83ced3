/*
 * podwire_tap: TAP devices for Node.js through N-API (plain C, node_api.h only).
 *
 *   open(name, vnetHdr, vnetHdrSize, offloads, counters) -> { handle, fd, name }
 *       Opens /dev/net/tun non-blocking, TUNSETIFF with IFF_TAP | IFF_NO_PI (| IFF_VNET_HDR),
 *       optional TUNSETVNETHDRSZ and TUNSETOFFLOAD. `name` may be "" or contain "%d"; the
 *       kernel's choice comes back in `name`. `counters` is a Float64Array(COUNTER_COUNT)
 *       the addon increments in place (no call needed to read statistics).
 *   readStart(handle, slab, slotSize, lengths, batch, cb[, offsets])
 *       Watches the fd with uv_poll on the main loop. When readable, reads frames until
 *       EAGAIN or `batch` frames into slab[i * slotSize ..], lengths[i] = bytes, then calls
 *       cb(count) ONCE per batch; on a fatal read/poll error cb(count, err) and stops.
 *       With `offsets` (an Int32Array of batch entries, read live at every read), frame i
 *       goes to slab[offsets[i] ..] and takes at most slotSize bytes: JS points the entries
 *       at free packet slots of its pool and so receives frames without a copy.
 *   readStop(handle)                      stops watching (the fd stays open).
 *   write(handle, buf, off, len) -> bool  one frame; false on EAGAIN (txDrops) or error (txErrors).
 *   writeBatch(handle, slab, offsets, lengths, count[, flags]) -> written
 *       One write() per frame; stops at the first EAGAIN (the rest are the caller's drops);
 *       a frame failing with another errno is skipped and counted in txErrors. flags
 *       PW_TX_ZERO_VNET_HDR (1): the device has IFF_VNET_HDR and the frames are plain: each
 *       goes out behind a zeroed virtio_net_hdr (writev), so no byte in front is touched.
 *   setRef(handle, bool)                  uv_ref / uv_unref the poll handle.
 *   close(handle)                         stops polling, closes the fd; idempotent.
 *
 *   udpOpen, udpSend, udpSendBatch, udpDrops: a UDP socket as the same kind of handle
 *       (readStart/readStop/setRef/close apply to it); see udp.c.
 *
 * Never blocks (O_NONBLOCK everywhere), never uses the libuv threadpool. Errors thrown to JS
 * are Error objects with `code` = errno name (EPERM, ENOENT, EBUSY, ...), `errno`, `syscall`
 * and `device`; the message names both the errno name and the device.
 *
 * Lifetime: the handle is a napi_external owning a TapHandle. While reading, the addon holds
 * strong references to the external itself, the callback, the slab and the lengths array, so
 * an active device is never collected (like a socket); readStop/close drop them. The uv_poll_t
 * is allocated separately and freed in its uv_close callback, so the TapHandle may be
 * finalized while a close is still pending.
 */
#include "tap.h"

void pw_finalize_handle(napi_env env, void *data, void *hint) {
  (void)hint;
  TapHandle *t = (TapHandle *)data;
  pw_close_handle(t);
  if (t->udp != NULL) pw_udp_free(t->udp, env);
  pw_drop_ref(env, &t->counters_ref);
  pw_drop_ref(env, &t->self_ref);
  free(t);
}

static bool get_string(napi_env env, napi_value v, char *buf, size_t cap, size_t *len) {
  return napi_get_value_string_utf8(env, v, buf, cap, len) == napi_ok;
}

static napi_value tap_open(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 5) { napi_throw_type_error(env, "ERR_MISSING_ARGS", "open(name, vnetHdr, vnetHdrSize, offloads, counters)"); return NULL; }
  char name[256];
  size_t name_len = 0;
  if (!get_string(env, argv[0], name, sizeof name, &name_len)) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "TAP device name must be a string");
    return NULL;
  }
  const char *shown = name_len > 0 ? name : "(kernel-chosen tap%d)";
  if (name_len >= IFNAMSIZ) {
    char msg[384];
    snprintf(msg, sizeof msg, "opening TAP device %.64s failed: ENAMETOOLONG (name of %zu bytes, at most %d)",
             name, name_len, IFNAMSIZ - 1);
    napi_throw(env, pw_errno_error(env, ENAMETOOLONG, "open", name, msg));
    return NULL;
  }
  bool vnet = false;
  int32_t vnet_size = 0;
  uint32_t offloads = 0;
  CHECK(napi_get_value_bool(env, argv[1], &vnet));
  CHECK(napi_get_value_int32(env, argv[2], &vnet_size));
  CHECK(napi_get_value_uint32(env, argv[3], &offloads));
  napi_typedarray_type ctype;
  size_t clen;
  void *cdata;
  if (napi_get_typedarray_info(env, argv[4], &ctype, &clen, &cdata, NULL, NULL) != napi_ok ||
      ctype != napi_float64_array || clen < COUNTER_COUNT) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "counters must be a Float64Array of at least 8 slots");
    return NULL;
  }

  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) { pw_throw_open_error(env, errno, "open /dev/net/tun", shown); return NULL; }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (vnet ? IFF_VNET_HDR : 0);
  memcpy(ifr.ifr_name, name, name_len);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int e = errno; close(fd); pw_throw_open_error(env, e, "ioctl TUNSETIFF", shown); return NULL;
  }
  char actual[IFNAMSIZ];
  memcpy(actual, ifr.ifr_name, IFNAMSIZ);
  actual[IFNAMSIZ - 1] = '\0';
  if (vnet && vnet_size > 0 && ioctl(fd, TUNSETVNETHDRSZ, &vnet_size) < 0) {
    int e = errno; close(fd); pw_throw_open_error(env, e, "ioctl TUNSETVNETHDRSZ", actual); return NULL;
  }
  if (offloads != 0 && ioctl(fd, TUNSETOFFLOAD, (unsigned long)offloads) < 0) {
    int e = errno; close(fd); pw_throw_open_error(env, e, "ioctl TUNSETOFFLOAD", actual); return NULL;
  }

  TapHandle *t = calloc(1, sizeof *t);
  if (t == NULL) { close(fd); napi_throw_error(env, "ENOMEM", "podwire_tap: out of memory"); return NULL; }
  t->env = env;
  t->fd = fd;
  t->ref = true;
  t->counters = (double *)cdata;
  t->vnet_hdr_sz = vnet ? (vnet_size > 0 ? vnet_size : 10) : 0;
  memcpy(t->name, actual, IFNAMSIZ);
  t->kind = "TAP device";
  napi_value handle, result, v;
  if (napi_create_external(env, t, pw_finalize_handle, NULL, &handle) != napi_ok) {
    close(fd); free(t); pw_throw_last(env, "napi_create_external"); return NULL;
  }
  CHECK(napi_create_reference(env, handle, 0, &t->self_ref));
  CHECK(napi_create_reference(env, argv[4], 1, &t->counters_ref));
  CHECK(napi_create_object(env, &result));
  CHECK(napi_set_named_property(env, result, "handle", handle));
  CHECK(napi_create_int32(env, fd, &v));
  CHECK(napi_set_named_property(env, result, "fd", v));
  CHECK(napi_create_string_utf8(env, actual, NAPI_AUTO_LENGTH, &v));
  CHECK(napi_set_named_property(env, result, "name", v));
  return result;
}

static napi_value tap_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  TapHandle *t = argc >= 1 ? pw_get_handle(env, argv[0]) : NULL;
  if (t != NULL) pw_close_handle(t);
  return NULL;
}

/* One write(); 1 written, 0 EAGAIN, -errno otherwise. Counts into the handle's counters. */
static int write_frame(TapHandle *t, const uint8_t *p, size_t len, bool zero_hdr) {
  static const uint8_t zero[16];
  struct iovec iov[2] = { { (void *)zero, (size_t)t->vnet_hdr_sz }, { (void *)p, len } };
  for (;;) {
    ssize_t r = zero_hdr ? pw_writev(t->fd, iov, 2) : pw_write(t->fd, p, len);
    if (r >= 0) { t->counters[C_TX_FRAMES] += 1; return 1; }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) { t->counters[C_TX_DROPS] += 1; return 0; }
    t->counters[C_TX_ERRORS] += 1;
    t->counters[C_LAST_TX_ERRNO] = errno;
    return -errno;
  }
}

static napi_value tap_write(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4], out;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  TapHandle *t = argc >= 4 ? pw_get_handle(env, argv[0]) : NULL;
  if (t == NULL) return NULL;
  void *buf;
  size_t buf_len;
  uint32_t off, len;
  if (napi_get_buffer_info(env, argv[1], &buf, &buf_len) != napi_ok ||
      napi_get_value_uint32(env, argv[2], &off) != napi_ok ||
      napi_get_value_uint32(env, argv[3], &len) != napi_ok || (size_t)off + len > buf_len) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "write: need a Buffer and off + len within it");
    return NULL;
  }
  int ok = t->fd >= 0 ? write_frame(t, (uint8_t *)buf + off, len, false) : 0;
  if (t->fd < 0) t->counters[C_TX_DROPS] += 1;
  if (ok == 1) pw_note_written(t);
  CHECK(napi_get_boolean(env, ok == 1, &out));
  return out;
}

static napi_value tap_write_batch(napi_env env, napi_callback_info info) {
  double *pr = pw_probe_cur; /* latency probe (tap.h): NULL when off or outside a TAP wake-up */
  if (pr != NULL && pr[P_WB] == 0) pr[P_WB] = pw_now();
  size_t argc = 6;
  napi_value argv[6], out;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  TapHandle *t = argc >= 5 ? pw_get_handle(env, argv[0]) : NULL;
  if (t == NULL) return NULL;
  uint32_t flags = 0;
  if (argc >= 6 && napi_get_value_uint32(env, argv[5], &flags) != napi_ok) flags = 0;
  bool zero_hdr = (flags & PW_TX_ZERO_VNET_HDR) != 0 && t->vnet_hdr_sz > 0;
  void *slab, *offs, *lens;
  size_t slab_len, noffs, nlens;
  napi_typedarray_type to, tl;
  uint32_t count;
  if (napi_get_buffer_info(env, argv[1], &slab, &slab_len) != napi_ok ||
      napi_get_typedarray_info(env, argv[2], &to, &noffs, &offs, NULL, NULL) != napi_ok ||
      napi_get_typedarray_info(env, argv[3], &tl, &nlens, &lens, NULL, NULL) != napi_ok ||
      napi_get_value_uint32(env, argv[4], &count) != napi_ok ||
      (to != napi_int32_array && to != napi_uint32_array) ||
      (tl != napi_int32_array && tl != napi_uint32_array) || count > noffs || count > nlens) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE",
                           "writeBatch: need a Buffer, Int32Array/Uint32Array offsets and lengths of at least count");
    return NULL;
  }
  uint32_t written = 0;
  if (pr != NULL && pr[P_WRITE0] == 0) { pr[P_WRITE0] = pw_now(); pr[P_WFD] = t->fd; }
  if (t->fd < 0) t->counters[C_TX_DROPS] += count;
  else {
    for (uint32_t i = 0; i < count; i++) {
      uint32_t o = ((uint32_t *)offs)[i], l = ((uint32_t *)lens)[i];
      if ((uint64_t)o + l > slab_len) { /* a bad descriptor: skip it, never read past the slab */
        t->counters[C_TX_ERRORS] += 1;
        t->counters[C_LAST_TX_ERRNO] = EINVAL;
        continue;
      }
      int r = write_frame(t, (uint8_t *)slab + o, l, zero_hdr);
      if (r == 1) written++;
      else if (r == 0) { t->counters[C_TX_DROPS] += count - i - 1; break; }
    }
  }
  if (written > 0) pw_note_written(t);
  if (pr != NULL) { pr[P_WRITE1] = pw_now(); pr[P_WRITES] += written; }
  CHECK(napi_create_uint32(env, written, &out));
  return out;
}

double *pw_probe = NULL;
double *pw_probe_cur = NULL;
static napi_ref probe_ref = NULL;

/* setLatencyProbe(Float64Array | null): see tap.h. */
napi_value tap_set_latency_probe(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  pw_probe = NULL;
  pw_probe_cur = NULL;
  pw_drop_ref(env, &probe_ref);
  napi_valuetype vt = napi_undefined;
  if (argc >= 1) CHECK(napi_typeof(env, argv[0], &vt));
  if (vt == napi_undefined || vt == napi_null) return NULL;
  napi_typedarray_type type;
  size_t len;
  void *data;
  if (napi_get_typedarray_info(env, argv[0], &type, &len, &data, NULL, NULL) != napi_ok ||
      type != napi_float64_array || len < PW_PROBE_HDR + PW_PROBE_REC) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", "setLatencyProbe: need a Float64Array of at least 16 slots, or null");
    return NULL;
  }
  CHECK(napi_create_reference(env, argv[0], 1, &probe_ref));
  double *p = data;
  struct timespec rt, mt;
  clock_gettime(CLOCK_REALTIME, &rt);
  clock_gettime(CLOCK_MONOTONIC, &mt);
  p[0] = 0;
  p[1] = (double)((len - PW_PROBE_HDR) / PW_PROBE_REC);
  p[2] = ((double)rt.tv_sec - (double)mt.tv_sec) * 1e9 + ((double)rt.tv_nsec - (double)mt.tv_nsec);
  pw_probe = p;
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  const char *no_reread = getenv("PODWIRE_TAP_NO_REREAD");
  pw_reread_on = no_reread == NULL || no_reread[0] == '\0' || strcmp(no_reread, "0") == 0;
  static const struct { const char *name; napi_callback fn; } fns[] = {
    {"open", tap_open}, {"readStart", tap_read_start}, {"readStop", tap_read_stop},
    {"setRef", tap_set_ref}, {"write", tap_write}, {"writeBatch", tap_write_batch},
    {"close", tap_close},
    {"udpOpen", udp_open}, {"udpSend", udp_send}, {"udpSendBatch", udp_send_batch}, {"udpDrops", udp_drops},
    {"packetOpen", packet_open}, {"setLatencyProbe", tap_set_latency_probe},
  };
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    napi_value f;
    CHECK(napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &f));
    CHECK(napi_set_named_property(env, exports, fns[i].name, f));
  }
  napi_value n;
  CHECK(napi_create_uint32(env, COUNTER_COUNT, &n));
  CHECK(napi_set_named_property(env, exports, "COUNTER_COUNT", n));
  CHECK(napi_create_uint32(env, UDP_COUNTER_COUNT, &n));
  CHECK(napi_set_named_property(env, exports, "UDP_COUNTER_COUNT", n));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
