{
  "targets": [
    {
      "target_name": "podwire_tap",
      "sources": ["native/tap.c", "native/tap_errors.c", "native/tap_poll.c", "native/udp.c", "native/packet.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags_c": ["-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-O2", "-fvisibility=hidden"]
    }
  ]
}
