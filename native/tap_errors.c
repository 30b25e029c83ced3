/* podwire_tap: errno-named JS errors (code = EPERM, ENOENT, ...; message names the device). */
#include "tap.h"

void pw_throw_last(napi_env env, const char *what) {
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (pending) return;
  const napi_extended_error_info *info = NULL;
  napi_get_last_error_info(env, &info);
  char msg[256];
  snprintf(msg, sizeof msg, "podwire_tap: %s failed: %s", what,
           info != NULL && info->error_message != NULL ? info->error_message : "N-API error");
  napi_throw_error(env, "ERR_PODWIRE_TAP", msg);
}

const char *pw_errno_name(int err, char *buf, size_t len) {
  return uv_err_name_r(-err, buf, len); /* libuv codes are -errno on Linux */
}

/* Error with code/errno/syscall/device; `hint` (may be NULL) replaces the strerror text. */
napi_value pw_errno_error(napi_env env, int err, const char *syscall,
                                   const char *device, const char *hint) {
  return pw_errno_error_of(env, err, syscall, "TAP device", device, hint);
}

/* As pw_errno_error, for a handle of another `kind` ("UDP socket"). */
napi_value pw_errno_error_of(napi_env env, int err, const char *syscall, const char *kind,
                             const char *device, const char *hint) {
  char code[32], msg[384];
  pw_errno_name(err, code, sizeof code);
  if (hint != NULL) snprintf(msg, sizeof msg, "%s", hint);
  else snprintf(msg, sizeof msg, "%s %s: %s failed: %s (%s)", kind, device, syscall, code, strerror(err));
  napi_value jcode, jmsg, error, v;
  napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &jcode);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &jmsg);
  napi_create_error(env, jcode, jmsg, &error);
  napi_create_int32(env, err, &v);
  napi_set_named_property(env, error, "errno", v);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, error, "syscall", v);
  napi_create_string_utf8(env, device, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, error, "device", v);
  return error;
}

void pw_throw_open_error(napi_env env, int err, const char *syscall, const char *device) {
  char code[32], hint[384];
  pw_errno_name(err, code, sizeof code);
  if (err == EPERM || err == EACCES)
    snprintf(hint, sizeof hint, "opening TAP device %s needs root or CAP_NET_ADMIN (%s in %s)", device, code, syscall);
  else if ((err == ENOENT || err == ENODEV || err == ENXIO) && strcmp(syscall, "open /dev/net/tun") == 0)
    snprintf(hint, sizeof hint,
             "opening TAP device %s: /dev/net/tun is missing (%s); load the tun module (modprobe tun) "
             "or, in a container, pass --device /dev/net/tun and CAP_NET_ADMIN", device, code);
  else if (err == EBUSY)
    snprintf(hint, sizeof hint, "opening TAP device %s failed: %s (another process has it open)", device, code);
  else if (err == EINVAL && strcmp(syscall, "ioctl TUNSETIFF") == 0)
    snprintf(hint, sizeof hint,
             "opening TAP device %s failed: %s in %s (invalid name, or a device of another kind has that name)",
             device, code, syscall);
  else
    snprintf(hint, sizeof hint, "opening TAP device %s failed: %s in %s (%s)", device, code, syscall, strerror(err));
  napi_throw(env, pw_errno_error(env, err, syscall, device, hint));
}

TapHandle *pw_get_handle(napi_env env, napi_value v) {
  void *p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok || p == NULL) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "podwire_tap: expected a TAP or UDP handle");
    return NULL;
  }
  return (TapHandle *)p;
}
