/**
 * kube-proxy's names for its rules, computed as pkg/proxy/iptables does, so a trace shows
 * the chain names `iptables-save` would show on a real node:
 *
 *   service port name   "<namespace>/<name>" + (":<port name>" when the port has one)
 *   KUBE-SVC-<h>        h = base32(sha256(servicePortName + protocol))[:16]
 *   KUBE-SEP-<h>        h = base32(sha256(servicePortName + protocol + "ip:port"))[:16]
 *   (protocol in lower case: `tcp`, `udp`)
 *
 * nftables mode (pkg/proxy/nftables): `<prefix>-<HASH8>-<ns>/<name>/<proto>/<port name>`,
 * prefixes service-, external-, local-, endpoint- (+ `__<ip>/<port>`), affinity-; HASH8 the
 * first 8 base32 characters of sha256 of what follows it (hashAndTruncate).
 *
 * IPVS mode has no chains: a rule reads like an `ipvsadm -Ln` line,
 * `TCP 10.96.0.2:80 rr -> 10.244.2.2:8080`.
 */
import { createHash } from 'node:crypto';

const B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** RFC 4648 base32 with padding (Go's base32.StdEncoding). */
export function base32(bytes: Uint8Array): string {
  let out = '';
  let bits = 0;
  let acc = 0;
  for (const b of bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += B32[(acc >>> (bits - 5)) & 31]!;
      bits -= 5;
    }
    acc &= (1 << bits) - 1;
  }
  if (bits > 0) out += B32[(acc << (5 - bits)) & 31]!;
  while (out.length % 8 !== 0) out += '=';
  return out;
}

function hash16(s: string): string {
  return base32(createHash('sha256').update(s).digest()).slice(0, 16);
}

export function servicePortName(namespace: string, name: string, port?: string): string {
  return `${namespace}/${name}${port !== undefined && port !== '' ? `:${port}` : ''}`;
}

export function serviceChainName(servicePort: string, protocol: string): string {
  return `KUBE-SVC-${hash16(servicePort + protocol.toLowerCase())}`;
}

export function endpointChainName(servicePort: string, protocol: string, endpoint: string): string {
  return `KUBE-SEP-${hash16(servicePort + protocol.toLowerCase() + endpoint)}`;
}

export function ipvsRuleName(protocol: string, vip: string, port: number, scheduler: string, endpoint: string): string {
  return `${protocol} ${vip}:${port} ${scheduler} -> ${endpoint}`;
}

/** kube-proxy hashAndTruncate: `<prefix>-<HASH8>-<base>`, cut with "..." past 240 characters. */
export function nftChainName(prefix: string, base: string): string {
  const hash = base32(createHash('sha256').update(base).digest()).slice(0, 8);
  const name = `${prefix}-${hash}-${base}`;
  return name.length > 240 ? `${name.slice(0, 237)}...` : name;
}

export const nftServiceBase = (ns: string, name: string, proto: string, port: string): string =>
  `${ns}/${name}/${proto.toLowerCase()}/${port}`;

export const nftEndpointBase = (svcBase: string, ip: string, port: number): string => `${svcBase}__${ip}/${port}`;
