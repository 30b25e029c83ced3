/*
 * podwire_tap: readiness through the event loop (uv_poll on the main loop, no threadpool)
 * and batched reads into the JS-provided slab; one JS call per batch. TAP devices and UDP
 * sockets (udp.c, read with recvmmsg) share this machinery.
 */
#include "tap.h"

static void on_poll_closed(uv_handle_t *h) { free(h); }

void pw_drop_ref(napi_env env, napi_ref *ref) {
  if (*ref != NULL) { napi_delete_reference(env, *ref); *ref = NULL; }
}

/* Stops the poll and releases the read-side references. Safe to call repeatedly. */
void pw_stop_reading(TapHandle *t) {
  napi_env env = t->env;
  if (t->poll != NULL) uv_poll_stop(t->poll);
  pw_forget_written(t);
  if (!t->reading) return;
  t->reading = false;
  pw_drop_ref(env, &t->cb_ref);
  pw_drop_ref(env, &t->slab_ref);
  pw_drop_ref(env, &t->lens_ref);
  pw_drop_ref(env, &t->offs_ref);
  if (t->async_ctx != NULL) {
    if (t->async_ctx != t->cb_ctx) napi_async_destroy(env, t->async_ctx);
    t->async_ctx = NULL;
  }
  t->slab = NULL;
  t->lens = NULL;
  t->offs = NULL;
  uint32_t rc;
  if (t->self_ref != NULL) napi_reference_unref(env, t->self_ref, &rc);
}

void pw_close_handle(TapHandle *t) {
  pw_stop_reading(t);
  if (t->poll != NULL) {
    t->poll->data = NULL;
    uv_close((uv_handle_t *)t->poll, on_poll_closed);
    t->poll = NULL;
  }
  if (t->fd >= 0) { close(t->fd); t->fd = -1; }
  pw_packet_free(t);
}

/*
 * Calls the JS batch callback with (count) or (count, err); a throw becomes an uncaught
 * exception. The callback may call readStop/readStart/close: the async context in flight is
 * destroyed only after it returns, and the handle is pinned by a local handle meanwhile.
 */
static void deliver(TapHandle *t, uint32_t count, int err, const char *syscall) {
  napi_env env = t->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value self = NULL, cb = NULL, recv, argv[2];
  napi_get_reference_value(env, t->self_ref, &self);
  napi_get_reference_value(env, t->cb_ref, &cb);
  napi_async_context ctx = t->async_ctx;
  if (self != NULL && cb != NULL) {
    size_t argc = 1;
    t->cb_ctx = ctx;
    napi_create_uint32(env, count, &argv[0]);
    if (err != 0) {
      char hint[256];
      const char *h = NULL;
      if (strcmp(syscall, "poll") == 0 && t->udp == NULL) {
        char code[32];
        snprintf(hint, sizeof hint, "TAP device %s: poll reported an error (%s): the device was deleted, "
                 "or the namespace holding it was", t->name, pw_errno_name(err, code, sizeof code));
        h = hint;
      }
      argv[1] = pw_errno_error_of(env, err, syscall, t->kind, t->name, h);
      argc = 2;
      pw_stop_reading(t); /* a failing fd would otherwise spin the loop */
    }
    napi_get_global(env, &recv);
    napi_value result;
    napi_status st = napi_make_callback(env, ctx, recv, cb, argc, argv, &result);
    t->cb_ctx = NULL;
    if (ctx != t->async_ctx) napi_async_destroy(env, ctx); /* released during the call */
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (st != napi_ok || pending) {
      napi_value exc;
      if (napi_get_and_clear_last_exception(env, &exc) == napi_ok) napi_fatal_exception(env, exc);
    }
  }
  napi_close_handle_scope(env, scope);
}

/* Counts one read's result and hands it to JS; false when there was nothing (no frame, no error). */
static bool deliver_read(TapHandle *t, uint32_t n, int err) {
  if (err != 0) {
    t->counters[C_RX_ERRORS] += 1;
    t->counters[C_LAST_RX_ERRNO] = err;
  }
  if (n == 0 && err == 0) return false;
  t->counters[C_RX_FRAMES] += n;
  t->counters[C_RX_BATCHES] += 1;
  deliver(t, n, err, "read");
  return true;
}

/*
 * A UDP socket: up to UDP_BATCHES_PER_WAKE recvmmsg calls per wake-up, each batch delivered
 * (the JS callback is done with the slab when it returns) before the next read reuses the
 * slab, until a short batch says the queue is empty. One batch per wake-up left a socket
 * under a sustained rate to fill its receive buffer between event-loop turns. The handle
 * object is pinned by a local handle for the whole loop; a callback that stops reading or
 * closes the socket ends it.
 */
#define UDP_BATCHES_PER_WAKE 16
static void read_udp(TapHandle *t) {
  napi_env env = t->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value self = NULL;
  napi_get_reference_value(env, t->self_ref, &self);
  for (int k = 0; k < UDP_BATCHES_PER_WAKE; k++) {
    int err = 0;
    uint32_t n = pw_udp_read(t, &err); /* recvmmsg, udp.c */
    uint32_t want = t->batch;
    if (!deliver_read(t, n, err)) break;
    if (err != 0 || !t->reading || t->fd < 0 || t->udp == NULL || n < want) break;
  }
  napi_close_handle_scope(env, scope);
}

/* Latency probe (tap.h): a fresh record for this wake-up, or NULL when off or full. */
static double *probe_begin(int fd, bool reread) {
  double *p = pw_probe;
  uint32_t r = (uint32_t)p[0];
  if (r >= (uint32_t)p[1]) return NULL;
  double *rec = p + PW_PROBE_HDR + (size_t)r * PW_PROBE_REC;
  memset(rec, 0, PW_PROBE_REC * sizeof *rec);
  rec[P_FD] = fd;
  rec[P_REREAD] = reread ? 1 : 0;
  rec[P_WAKE] = pw_now();
  return rec;
}

/*
 * Read again after a wake-up: the TAPs written to during a wake-up's callbacks, read once
 * more before control goes back to libuv. A write() into a TAP delivers the frame into the
 * kernel stack behind it inside the system call (tun_get_user -> netif_receive_skb), so an
 * answer the kernel makes at once (an ICMP echo reply, an ARP reply, a TCP ACK) is already
 * queued on that TAP when write() returns; reading it now saves an event-loop round (timers,
 * immediates, a second epoll_wait) on every request/response turn through podwire. Bounded:
 * at most PW_REREAD_MAX re-reads per wake-up (a forwarding loop keeps going through epoll
 * like any other wake-up), each one read of the same kind as a wake-up (up to the batch,
 * delivered in one callback). What is not read here stays readable: uv_poll is
 * level-triggered. A handle that stops reading is taken out of the list (pw_stop_reading).
 */
#define PW_REREAD_MAX 16
static TapHandle *reread[PW_REREAD_MAX];
static uint32_t reread_at, reread_n;
static bool in_wake;
/* PODWIRE_TAP_NO_REREAD=1 in the environment switches re-reads off (a diagnostic: before/after
 * figures of tools/bench/tap-latency.mjs in one sitting); read once, when the addon loads. */
bool pw_reread_on = true;

void pw_note_written(TapHandle *t) {
  if (!in_wake || !pw_reread_on || !t->reading || t->udp != NULL || reread_n == PW_REREAD_MAX) return;
  for (uint32_t i = reread_at; i < reread_n; i++) if (reread[i] == t) return;
  reread[reread_n++] = t;
}

void pw_forget_written(TapHandle *t) {
  for (uint32_t i = reread_at; i < reread_n; i++) if (reread[i] == t) reread[i] = NULL;
}

/* A TAP's (or AF_PACKET ring's) read: up to the batch, one callback; false if nothing came. */
static bool read_tap(TapHandle *t, bool again) {
  double *pr = pw_probe != NULL && t->pkt == NULL ? probe_begin(t->fd, again) : NULL;
  uint32_t n = 0;
  int err = 0;
  if (t->pkt != NULL) n = pw_packet_read(t, &err); /* TPACKET_V3 ring, packet.c */
  else while (n < t->batch) {
    size_t at = t->offs != NULL ? (size_t)(uint32_t)t->offs[n] : (size_t)n * t->slot_size;
    if (at + t->slot_size > t->slab_len) { err = EINVAL; break; } /* a bad slot offset from JS */
    ssize_t r = pw_read(t->fd, t->slab + at, t->slot_size);
    if (r > 0) { t->lens[n++] = (int32_t)r; continue; }
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    err = r < 0 ? errno : EIO; /* r == 0: the device went away */
    break;
  }
  if (pr == NULL) return deliver_read(t, n, err);
  double *probe = pw_probe;
  pr[P_READ] = pw_now();
  pr[P_FRAMES] = n;
  pw_probe_cur = pr;
  bool any = deliver_read(t, n, err);
  pw_probe_cur = NULL;
  if (pw_probe != probe) return any; /* the probe was switched off or replaced by the callback */
  pr[P_RET] = pw_now();
  if (any) probe[0] += 1; /* a spurious wake-up or an empty re-read (no frame) is not kept */
  return any;
}

static void on_readable(uv_poll_t *poll, int status, int events) {
  TapHandle *t = (TapHandle *)poll->data;
  if (t == NULL || !t->reading) return;
  if (status < 0) {
    t->counters[C_RX_ERRORS] += 1;
    t->counters[C_LAST_RX_ERRNO] = -status;
    deliver(t, 0, -status, "poll");
    return;
  }
  if (!(events & UV_READABLE)) return;
  in_wake = true;
  reread_at = reread_n = 0;
  if (t->udp != NULL) read_udp(t);
  else read_tap(t, false);
  while (reread_at < reread_n) {
    TapHandle *w = reread[reread_at++];
    if (w != NULL && w->reading && w->fd >= 0) read_tap(w, true);
  }
  reread_at = reread_n = 0;
  in_wake = false;
}

napi_value tap_read_start(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 6) { napi_throw_type_error(env, "ERR_MISSING_ARGS", "readStart(handle, slab, slotSize, lengths, batch, cb[, offsets])"); return NULL; }
  TapHandle *t = pw_get_handle(env, argv[0]);
  if (t == NULL) return NULL;
  if (t->fd < 0) {
    char msg[96];
    snprintf(msg, sizeof msg, "%s %s is closed (EBADF)", t->kind, t->name);
    napi_throw(env, pw_errno_error_of(env, EBADF, "readStart", t->kind, t->name, msg));
    return NULL;
  }
  void *slab;
  size_t slab_len;
  uint32_t slot, batch;
  napi_typedarray_type ltype;
  size_t llen;
  void *ldata;
  napi_valuetype cbt;
  if (napi_get_buffer_info(env, argv[1], &slab, &slab_len) != napi_ok ||
      napi_get_value_uint32(env, argv[2], &slot) != napi_ok ||
      napi_get_typedarray_info(env, argv[3], &ltype, &llen, &ldata, NULL, NULL) != napi_ok ||
      napi_get_value_uint32(env, argv[4], &batch) != napi_ok ||
      napi_typeof(env, argv[5], &cbt) != napi_ok || cbt != napi_function ||
      (ltype != napi_int32_array && ltype != napi_uint32_array) ||
      slot == 0 || batch == 0 || llen < batch || (argc < 7 && (size_t)slot * batch > slab_len) || slot > slab_len) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE",
                          "readStart: need a Buffer of batch*slotSize bytes, an Int32Array of batch lengths, a function");
    return NULL;
  }
  void *odata = NULL;
  napi_valuetype ot = napi_undefined;
  if (argc >= 7) CHECK(napi_typeof(env, argv[6], &ot));
  if (ot != napi_undefined && ot != napi_null) {
    napi_typedarray_type otype;
    size_t olen;
    if (napi_get_typedarray_info(env, argv[6], &otype, &olen, &odata, NULL, NULL) != napi_ok ||
        otype != napi_int32_array || olen < batch) {
      napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", "readStart: offsets must be an Int32Array of at least batch slot offsets");
      return NULL;
    }
  }
  if (t->udp != NULL && (batch > t->udp->cap || odata != NULL)) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "readStart: a UDP socket reads at most the batch it was opened with, into slot mode");
    return NULL;
  }
  pw_stop_reading(t); /* replacing a previous reader */
  if (t->poll == NULL) {
    uv_loop_t *loop;
    CHECK(napi_get_uv_event_loop(env, &loop));
    t->poll = malloc(sizeof *t->poll);
    if (t->poll == NULL) { napi_throw_error(env, "ENOMEM", "podwire_tap: out of memory"); return NULL; }
    int r = uv_poll_init(loop, t->poll, t->fd);
    if (r < 0) {
      free(t->poll); t->poll = NULL;
      napi_throw(env, pw_errno_error_of(env, -r, "uv_poll_init", t->kind, t->name, NULL));
      return NULL;
    }
    t->poll->data = t;
    if (!t->ref) uv_unref((uv_handle_t *)t->poll);
  }
  napi_value resource, rname;
  CHECK(napi_create_object(env, &resource));
  CHECK(napi_create_string_utf8(env, t->udp != NULL ? "podwire:udp" : "podwire:tap", NAPI_AUTO_LENGTH, &rname));
  CHECK(napi_async_init(env, resource, rname, &t->async_ctx));
  CHECK(napi_create_reference(env, argv[5], 1, &t->cb_ref));
  CHECK(napi_create_reference(env, argv[1], 1, &t->slab_ref));
  CHECK(napi_create_reference(env, argv[3], 1, &t->lens_ref));
  if (odata != NULL) CHECK(napi_create_reference(env, argv[6], 1, &t->offs_ref));
  uint32_t rc;
  CHECK(napi_reference_ref(env, t->self_ref, &rc));
  t->slab = slab;
  t->slab_len = slab_len;
  t->offs = odata;
  t->slot_size = slot;
  t->lens = ldata;
  t->batch = batch;
  t->reading = true;
  int r = uv_poll_start(t->poll, UV_READABLE, on_readable);
  if (r < 0) {
    pw_stop_reading(t);
    napi_throw(env, pw_errno_error_of(env, -r, "uv_poll_start", t->kind, t->name, NULL));
    return NULL;
  }
  return NULL;
}

napi_value tap_read_stop(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  TapHandle *t = argc >= 1 ? pw_get_handle(env, argv[0]) : NULL;
  if (t != NULL) pw_stop_reading(t);
  return NULL;
}

napi_value tap_set_ref(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  TapHandle *t = argc >= 2 ? pw_get_handle(env, argv[0]) : NULL;
  if (t == NULL) return NULL;
  CHECK(napi_get_value_bool(env, argv[1], &t->ref));
  if (t->poll != NULL) {
    if (t->ref) uv_ref((uv_handle_t *)t->poll);
    else uv_unref((uv_handle_t *)t->poll);
  }
  return NULL;
}
