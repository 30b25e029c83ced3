#!/usr/bin/env bash
# Captures the real frames behind test/fixtures/real-frames.ts: bytes written by the Linux
# kernel and by real tools (ping, curl, dig, the kernel's 802.1Q and VXLAN devices), which
# src/wire/real-captures.test.ts parses with podwire's wire layer.
#
# Needs root (ip netns, veth, vxlan, tc + bpf(2), tshark), plus tshark, ping (iputils), curl, dig,
# python3. Traffic stays inside three throwaway network namespaces; nothing leaves the host
# and nothing touches the root namespace's links or routes.
#
#   pwfx-a  veth-a 10.244.1.2/24  ---veth---  veth-b 10.244.1.3/24  pwfx-b (router, servers)
#           veth-a also 10.244.100.2/24: its egress tagged with 802.1Q VLAN 100 (see below)
#           vx1  10.245.1.2/24  VXLAN VNI 1,  dstport 8472, outer UDP checksum 0 (noudpcsum)
#           vx42 10.245.42.2/24 VXLAN VNI 42, dstport 4789, outer UDP checksum on (udpcsum)
#                                              veth-bc 10.244.3.1/24 MTU 1400
#                                                   |
#                                              veth-c  10.244.3.2/24 MTU 1400  pwfx-c
#
# Capture: one tshark on veth-a inside pwfx-a, while pwfx-a runs
#   ping -c 1 10.244.1.3                      ARP request/reply, ICMP echo request/reply
#   ping -c 1 -t 1 10.244.3.2                 ICMP time exceeded from the router pwfx-b
#   ping -c 1 -M do -s 1472 10.244.3.2        ICMP fragmentation needed, next-hop MTU 1400
#   python3 UDP sendto 10.244.1.3:33434       UDP datagram + ICMP port unreachable
#   curl http://10.244.1.3:8080/hello.txt     TCP handshake with Linux's SYN options, data, FIN
#                                             (server: python3 -m http.server in pwfx-b)
#   dig @10.244.1.3 service1.default.svc.cluster.local A
#                                             (server: the tiny python responder below)
#   ping -c 1 10.245.1.3 / 10.245.42.3        VXLAN-encapsulated frames from the kernel device
#   ping -c 1 10.244.100.3                    802.1Q-tagged ICMP echo request, VLAN 100
#
# Checksums: veth advertises TX checksum offload, so a socket's TCP/UDP checksum would be
# left CHECKSUM_PARTIAL (only the pseudo-header sum) and never completed on a veth pair, on
# either end. The script turns TX checksumming off on every device with the legacy
# SIOCETHTOOL/ETHTOOL_STXCSUM ioctl (no ethtool binary needed), so the stack writes the
# full checksum before the capture tap sees the frame. VLAN tags: the kernel keeps an 802.1Q
# tag in skb metadata (veth has tx-vlan-hw-insert); libpcap (dumpcap) re-inserts it from
# PACKET_AUXDATA, so the capture holds the tag as it would be on a wire.
#
# Output: captures/fixtures/real.pcapng (gitignored) and test/fixtures/real-frames.ts (the
# selected frames as hex, each with the command, kernel version and tshark's summary).
# Sequence numbers, ports, IP IDs, timestamps and the DNS ID are random per run: after
# regenerating, update the literals in src/wire/real-captures.test.ts from
# `tshark -r captures/fixtures/real.pcapng -d udp.port==8472,vxlan -V`.
#
# Idempotent: removes leftovers of an earlier run first; cleans up on exit (namespaces and
# the processes it started in them). Usage: sudo tools/capture-fixtures.sh
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
  echo "capture-fixtures.sh: needs root (ip netns, tshark); run it with sudo" >&2
  exit 1
fi
for t in ip tshark ping curl dig python3; do
  command -v "$t" >/dev/null || { echo "capture-fixtures.sh: missing $t (tools/setup-system.sh installs it)" >&2; exit 1; }
done

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT_DIR="$ROOT/captures/fixtures"
PCAP="$OUT_DIR/real.pcapng"
TS_OUT="$ROOT/test/fixtures/real-frames.ts"
NS_A=pwfx-a
NS_B=pwfx-b
NS_C=pwfx-c
WORK="$(mktemp -d /tmp/pwfx.XXXXXX)"
PIDS=()

cleanup() {
  local -
  set +e
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  for ns in "$NS_A" "$NS_B" "$NS_C"; do
    if ip netns list | grep -qw "$ns"; then
      # Only processes still inside our own namespaces (started by this script).
      for p in $(ip netns pids "$ns" 2>/dev/null); do kill "$p" 2>/dev/null; done
      ip netns del "$ns"
    fi
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
cleanup
WORK="$(mktemp -d /tmp/pwfx.XXXXXX)"
mkdir -p "$OUT_DIR" "$(dirname "$TS_OUT")"

inA() { ip netns exec "$NS_A" "$@"; }
inB() { ip netns exec "$NS_B" "$@"; }
inC() { ip netns exec "$NS_C" "$@"; }

# TX checksum offload off (legacy SIOCETHTOOL, ETHTOOL_STXCSUM = 0x17) for one device.
txcsum_off() {
  local ns=$1 dev=$2
  ip netns exec "$ns" python3 - "$dev" <<'PY'
import ctypes, fcntl, socket, struct, sys
SIOCETHTOOL, ETHTOOL_GTXCSUM, ETHTOOL_STXCSUM = 0x8946, 0x16, 0x17
dev = sys.argv[1].encode()
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
def call(cmd, data):
    ev = ctypes.create_string_buffer(struct.pack('II', cmd, data), 8)
    fcntl.ioctl(s.fileno(), SIOCETHTOOL, struct.pack('16sP', dev, ctypes.addressof(ev)))
    return struct.unpack('II', ev.raw)[1]
call(ETHTOOL_STXCSUM, 0)
if call(ETHTOOL_GTXCSUM, 0) != 0:
    sys.exit(f'{dev.decode()}: tx checksum offload still on')
PY
}

# Attaches `bpf_skb_vlan_push(skb, htons(0x8100), vid); return TC_ACT_OK` to dev's tc egress.
# The program is loaded with the bpf(2) syscall from python3 and pinned in a bpffs mounted in
# a private mount namespace (unshare -m), so nothing outside the namespace changes.
vlan_push_on() {
  local ns=$1 dev=$2 vid=$3
  ip netns exec "$ns" tc qdisc replace dev "$dev" clsact
  ip netns exec "$ns" unshare -m sh -ec '
    mkdir -p "$3" && mount -t bpf bpf "$3"
    python3 - "$1" "$3/vlan_push" <<"PY"
import ctypes, struct, sys
vid, path = int(sys.argv[1]), sys.argv[2].encode()
libc = ctypes.CDLL(None, use_errno=True)
SYS_bpf, BPF_PROG_LOAD, BPF_OBJ_PIN, BPF_PROG_TYPE_SCHED_CLS = 321, 5, 6, 3
def insn(code, dst, src, off, imm):
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)
prog = b"".join([
    insn(0xb7, 2, 0, 0, 0x0081),  # r2 = htons(ETH_P_8021Q) as a little-endian u16
    insn(0xb7, 3, 0, 0, vid),     # r3 = VLAN TCI (PCP 0, DEI 0, VID)
    insn(0x85, 0, 0, 0, 18),      # call bpf_skb_vlan_push(r1 = skb, r2, r3)
    insn(0xb7, 0, 0, 0, 0),       # r0 = TC_ACT_OK
    insn(0x95, 0, 0, 0, 0),       # exit
])
code = ctypes.create_string_buffer(prog, len(prog))
lic = ctypes.create_string_buffer(b"GPL")
log = ctypes.create_string_buffer(65536)
attr = ctypes.create_string_buffer(struct.pack("<IIQQIIQ", BPF_PROG_TYPE_SCHED_CLS, len(prog) // 8,
    ctypes.addressof(code), ctypes.addressof(lic), 1, len(log), ctypes.addressof(log)), 128)
fd = libc.syscall(SYS_bpf, BPF_PROG_LOAD, attr, 128)
if fd < 0:
    sys.exit("BPF_PROG_LOAD: errno %d: %s" % (ctypes.get_errno(), log.value.decode()))
p = ctypes.create_string_buffer(path)
pin = ctypes.create_string_buffer(struct.pack("<QI", ctypes.addressof(p), fd), 128)
if libc.syscall(SYS_bpf, BPF_OBJ_PIN, pin, 128) != 0:
    sys.exit("BPF_OBJ_PIN: errno %d" % ctypes.get_errno())
PY
    tc filter add dev "$2" egress bpf da object-pinned "$3/vlan_push"
  ' sh "$vid" "$dev" "$WORK/bpffs"
}

# ---------------------------------------------------------------------- topology
for ns in "$NS_A" "$NS_B" "$NS_C"; do
  ip netns add "$ns"
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  ip netns exec "$ns" sysctl -qw net.ipv4.icmp_ratelimit=0
  ip netns exec "$ns" ip link set lo up
done
inB sysctl -qw net.ipv4.ip_forward=1

ip link add veth-a netns "$NS_A" type veth peer name veth-b netns "$NS_B"
ip link add veth-bc netns "$NS_B" type veth peer name veth-c netns "$NS_C"
inA ip link set veth-a address 02:42:0a:f4:01:02
inB ip link set veth-b address 02:42:0a:f4:01:03
inB ip link set veth-bc address 02:42:0a:f4:03:01 mtu 1400
inC ip link set veth-c address 02:42:0a:f4:03:02 mtu 1400
inA ip addr add 10.244.1.2/24 dev veth-a
inB ip addr add 10.244.1.3/24 dev veth-b
inB ip addr add 10.244.3.1/24 dev veth-bc
inC ip addr add 10.244.3.2/24 dev veth-c

# 802.1Q: kernels built without CONFIG_VLAN_8021Q (no `type vlan`, no bridge VLAN
# filtering, no act_vlan) can still tag in the stack: a 6-instruction eBPF program on
# veth-a's tc egress hook calls the kernel helper bpf_skb_vlan_push(skb, 0x8100, 100). It is
# attached only for the last ping (to 10.244.100.3, a static neighbour, so no ARP is needed);
# pwfx-b drops the tagged frame (no VLAN device there), which is fine: only the request matters.
inA ip addr add 10.244.100.2/24 dev veth-a
inA ip neigh replace 10.244.100.3 lladdr 02:42:0a:f4:01:03 dev veth-a nud permanent

# Kernel VXLAN devices over the a-b veth: VNI 1 on Linux's port 8472 (flannel's) without an
# outer UDP checksum (0 on the wire), VNI 42
# on the IANA port 4789 with the outer UDP checksum computed.
inA ip link add vx1 type vxlan id 1 dstport 8472 local 10.244.1.2 remote 10.244.1.3 dev veth-a noudpcsum
inB ip link add vx1 type vxlan id 1 dstport 8472 local 10.244.1.3 remote 10.244.1.2 dev veth-b noudpcsum
inA ip link add vx42 type vxlan id 42 dstport 4789 local 10.244.1.2 remote 10.244.1.3 dev veth-a udpcsum
inB ip link add vx42 type vxlan id 42 dstport 4789 local 10.244.1.3 remote 10.244.1.2 dev veth-b udpcsum
inA ip link set vx1 address 02:42:0a:f5:01:02
inB ip link set vx1 address 02:42:0a:f5:01:03
inA ip link set vx42 address 02:42:0a:f5:2a:02
inB ip link set vx42 address 02:42:0a:f5:2a:03
inA ip addr add 10.245.1.2/24 dev vx1
inB ip addr add 10.245.1.3/24 dev vx1
inA ip addr add 10.245.42.2/24 dev vx42
inB ip addr add 10.245.42.3/24 dev vx42

for d in veth-a vx1 vx42; do txcsum_off "$NS_A" "$d"; inA ip link set "$d" up; done
for d in veth-b veth-bc vx1 vx42; do txcsum_off "$NS_B" "$d"; inB ip link set "$d" up; done
txcsum_off "$NS_C" veth-c
inC ip link set veth-c up
inA ip route add 10.244.3.0/24 via 10.244.1.3
inC ip route add 10.244.1.0/24 via 10.244.3.1

# ---------------------------------------------------------------------- servers in pwfx-b
mkdir -p "$WORK/www"
printf 'hello from podwire\n' >"$WORK/www/hello.txt"
ip netns exec "$NS_B" python3 -m http.server 8080 --bind 10.244.1.3 --directory "$WORK/www" >"$WORK/http.log" 2>&1 &
PIDS+=($!)

# A tiny authoritative DNS responder: answers every A query with 10.96.0.1, TTL 30, the
# answer owner compressed to the question (0xc00c), plus an OPT record (UDP size 1232).
cat >"$WORK/dns.py" <<'PY'
import socket, struct
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('10.244.1.3', 53))
while True:
    q, peer = s.recvfrom(4096)
    if len(q) < 12:
        continue
    qid, flags = struct.unpack('!HH', q[:4])
    i = 12
    while q[i] != 0:
        i += 1 + q[i]
    question = q[12:i + 5]
    qtype = struct.unpack('!H', q[i + 1:i + 3])[0]
    rd = flags & 0x0100
    answers = b''
    if qtype == 1:
        answers = b'\xc0\x0c' + struct.pack('!HHIH', 1, 1, 30, 4) + socket.inet_aton('10.96.0.1')
    opt = b'\x00' + struct.pack('!HHIH', 41, 1232, 0, 0)
    hdr = struct.pack('!HHHHHH', qid, 0x8400 | rd, 1, 1 if answers else 0, 0, 1)
    s.sendto(hdr + question + answers + opt, peer)
PY
ip netns exec "$NS_B" python3 "$WORK/dns.py" >"$WORK/dns.log" 2>&1 &
PIDS+=($!)

# Wait for both servers to listen.
for _ in $(seq 50); do
  if inB ss -lntu | grep -q '10.244.1.3:8080' && inB ss -lnu | grep -q '10.244.1.3:53'; then break; fi
  sleep 0.1
done

# ---------------------------------------------------------------------- capture
rm -f "$PCAP"
# Not through inA: $! must be tshark itself (ip netns exec execs it). SIGTERM, not SIGINT,
# stops it: a non-interactive shell starts background jobs with SIGINT ignored. The
# autostop duration is a safety net only.
ip netns exec "$NS_A" tshark -q -a duration:120 -i veth-a -w "$PCAP" >"$WORK/tshark.log" 2>&1 &
TSHARK=$!
PIDS+=("$TSHARK")
for _ in $(seq 100); do grep -q 'Capturing on' "$WORK/tshark.log" && break; sleep 0.1; done
sleep 0.5

inA ping -c 1 -W 2 10.244.1.3
sleep 0.3
inA ping -c 1 -W 2 -t 1 10.244.3.2 || true          # "Time to live exceeded" is the point
sleep 0.3
inA ping -c 1 -W 2 -M do -s 1472 10.244.3.2 || true # "Frag needed and DF set (mtu = 1400)"
sleep 0.3
inA python3 -c "import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.sendto(b'podwire', ('10.244.1.3', 33434))"
sleep 0.3
inA curl -sS --noproxy '*' -o /dev/null http://10.244.1.3:8080/hello.txt
sleep 0.3
inA dig +tries=1 +time=2 @10.244.1.3 service1.default.svc.cluster.local A
sleep 0.3
inA ping -c 1 -W 2 10.245.1.3
sleep 0.3
inA ping -c 1 -W 2 10.245.42.3
sleep 0.3
vlan_push_on "$NS_A" veth-a 100
inA ping -c 1 -W 1 10.244.100.3 || true            # tagged request; nobody answers
inA tc qdisc del dev veth-a clsact
sleep 1

kill -TERM "$TSHARK"
wait "$TSHARK" || true

# ---------------------------------------------------------------------- extract
# One frame per display filter: the first match. Filters exclude the quoted packets inside
# ICMP errors (`!icmp`), tagged frames (`!vlan`) and tunnelled ones (`!vxlan`) where needed.
KERNEL="$(uname -r)"
TSHARK_VERSION="$(tshark --version | head -1)"
python3 - "$PCAP" "$TS_OUT" "$KERNEL" "$TSHARK_VERSION" <<'PY'
import json, subprocess, sys
pcap, out, kernel, tshark_version = sys.argv[1:5]
DEC = ['-d', 'udp.port==8472,vxlan']
FRAMES = [
  ('ARP_REQUEST', 'ping -c 1 10.244.1.3 (iputils ping; the kernel resolves 10.244.1.3)',
   'arp.opcode==1 && arp.dst.proto_ipv4==10.244.1.3 && !vlan'),
  ('ARP_REPLY', 'ping -c 1 10.244.1.3 (the kernel of pwfx-b answers)',
   'arp.opcode==2 && arp.src.proto_ipv4==10.244.1.3 && !vlan'),
  ('ICMP_ECHO_REQUEST', 'ping -c 1 10.244.1.3 (iputils ping)',
   'icmp.type==8 && ip.dst==10.244.1.3 && !vlan && !vxlan'),
  ('ICMP_ECHO_REPLY', 'ping -c 1 10.244.1.3 (reply by the kernel of pwfx-b)',
   'icmp.type==0 && ip.src==10.244.1.3 && !vlan && !vxlan'),
  ('ICMP_TIME_EXCEEDED', 'ping -c 1 -t 1 10.244.3.2 (router pwfx-b answers)',
   'icmp.type==11'),
  ('ICMP_FRAG_NEEDED', 'ping -c 1 -M do -s 1472 10.244.3.2 (router pwfx-b, egress MTU 1400)',
   'icmp.type==3 && icmp.code==4'),
  ('UDP_TO_CLOSED_PORT', "python3 socket.sendto(b'podwire', ('10.244.1.3', 33434))",
   'udp.dstport==33434 && !icmp'),
  ('ICMP_PORT_UNREACHABLE', 'the kernel of pwfx-b answers the datagram to the closed port 33434',
   'icmp.type==3 && icmp.code==3'),
  ('TCP_SYN', 'curl http://10.244.1.3:8080/hello.txt (curl 7.88.1)',
   'tcp.flags.syn==1 && tcp.flags.ack==0'),
  ('TCP_SYN_ACK', 'curl http://10.244.1.3:8080/hello.txt (python3 -m http.server answers)',
   'tcp.flags.syn==1 && tcp.flags.ack==1'),
  ('TCP_HTTP_GET', 'curl http://10.244.1.3:8080/hello.txt (the request)',
   'http.request'),
  ('TCP_FIN', 'curl http://10.244.1.3:8080/hello.txt (http.server closes the HTTP/1.0 connection)',
   'tcp.flags.fin==1 && ip.src==10.244.1.3'),
  ('DNS_QUERY', 'dig +tries=1 +time=2 @10.244.1.3 service1.default.svc.cluster.local A',
   'dns.flags.response==0 && !icmp'),
  ('DNS_RESPONSE', 'the python responder of tools/capture-fixtures.sh answers the dig query',
   'dns.flags.response==1 && !icmp'),
  ('VLAN_ICMP_ECHO_REQUEST', 'ping -c 1 10.244.100.3 (tagged by bpf_skb_vlan_push(skb, 0x8100, 100) on veth-a tc egress)',
   'vlan.id==100 && icmp.type==8'),
  ('VXLAN_8472_ICMP_ECHO_REQUEST', 'ping -c 1 10.245.1.3 (over the kernel vxlan device vx1: VNI 1, dstport 8472)',
   'vxlan.vni==1 && icmp.type==8'),
  ('VXLAN_4789_ICMP_ECHO_REPLY', 'ping -c 1 10.245.42.3 (reply through the kernel vxlan device vx42 of pwfx-b: VNI 42, dstport 4789, udpcsum)',
   'vxlan.vni==42 && icmp.type==0'),
]
def tshark(*args):
    return subprocess.run(['tshark', '-r', pcap, *DEC, *args], check=True, capture_output=True, text=True).stdout
lines = [
  '// Generated by tools/capture-fixtures.sh: do not edit by hand.',
  '//',
  '// Real frames written by the Linux kernel and real tools inside throwaway network',
  '// namespaces, captured with tshark on veth-a in namespace pwfx-a (see the script for the',
  '// topology). Whole frames as captured (veth neither pads short frames nor carries an FCS).',
  f'// Kernel: {kernel}. Capture and summaries: {tshark_version}',
  '',
]
for name, cmd, flt in FRAMES:
    nums = tshark('-Y', flt, '-T', 'fields', '-e', 'frame.number').split()
    if not nums:
        sys.exit(f'no frame matches {name}: {flt}')
    n = nums[0]
    pkt = json.loads(tshark('-Y', f'frame.number=={n}', '-T', 'json', '-x'))[0]
    raw = pkt['_source']['layers']['frame_raw'][0]
    summary = tshark('-Y', f'frame.number=={n}', '-T', 'fields', '-e', 'frame.len', '-e', '_ws.col.Source',
                     '-e', '_ws.col.Destination', '-e', '_ws.col.Protocol', '-e', '_ws.col.Info').strip().split('\t')
    flen, src, dst, proto, info = (summary + [''] * 5)[:5]
    lines.append(f'/**')
    lines.append(f' * {cmd}')
    lines.append(f' * tshark #{n}: {src} -> {dst} {proto} {flen} bytes: {info}')
    lines.append(f' * Selected with the display filter `{flt}`; kernel {kernel}.')
    lines.append(f' */')
    lines.append(f'export const {name} = `')
    for i in range(0, len(raw), 32):
        lines.append('  ' + ' '.join(raw[j:j + 4] for j in range(i, min(i + 32, len(raw)), 4)))
    lines.append('`;')
    lines.append('')
lines.append('/** The bytes of a frame constant above (whitespace ignored). */')
lines.append('export function frameBytes(hex: string): Uint8Array {')
lines.append("  return Uint8Array.from(Buffer.from(hex.replace(/\\s+/g, ''), 'hex'));")
lines.append('}')
with open(out, 'w') as f:
    f.write('\n'.join(lines) + '\n')
print(f'wrote {out} ({len(FRAMES)} frames)')
PY

echo "capture-fixtures.sh: $PCAP"
echo "capture-fixtures.sh: decode with: tshark -r $PCAP -d udp.port==8472,vxlan -V"
