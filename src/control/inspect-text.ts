/**
 * The text `podwire inspect` prints, rendered from the inspect document (src/control/inspect.ts),
 * so a local topology and a running `podwire up` (`GET /inspect`) print the same. Each block
 * is shaped like the Linux tool a learner would run on that node: `ip -br addr` (with the
 * MAC and MTU of `ip -br link` after the addresses), `ip route`, `bridge fdb show`, `ip -d link
 * show flannel.1`; then pods and services as `kubectl get -o wide` lists them.
 */
import type { InspectInterface, InspectNamespace, InspectNode, InspectView } from './inspect.js';

function table(rows: string[][], indent: string): string[] {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => { widths[i] = Math.max(widths[i] ?? 0, c.length); });
  return rows.map((r) => `${indent}${r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('   ')}`.trimEnd());
}

/** `eth0@veth0`, as `ip` names a veth by its peer (`@ifN` there; the peer's name here). */
function ifName(i: InspectInterface): string {
  return i.peer === null ? i.name : `${i.name}@${i.peer.namespace === 'root' ? i.peer.name : i.peer.namespace}`;
}

function state(i: InspectInterface): string {
  if (!i.up) return 'DOWN';
  return i.kind === 'lo' || i.kind === 'vxlan' || i.kind === 'dummy' ? 'UNKNOWN' : 'UP';
}

function namespaceLines(ns: InspectNamespace): string[] {
  const head = ns.kind === 'root' ? 'netns root' : `netns ${ns.name}${ns.attached ? ' (attached: a real namespace)' : ''}`;
  const rows = ns.interfaces.map((i) => [
    ifName(i), state(i), i.addresses.join(' ') || '-', i.mac, `mtu ${i.mtu}${i.master !== null ? ` master ${i.master}` : ''}`,
  ]);
  return [
    `  ${head}`,
    '    $ ip -br addr',
    ...table(rows, '    '),
    '    $ ip route',
    ...(ns.routes.length === 0 ? ['    (none)'] : ns.routes.map((r) => `    ${r.text}`)),
  ];
}

function nodeLines(n: InspectNode): string[] {
  const out = [`node ${n.name} (${n.ip}, podCIDR ${n.podCIDR})${n.emulated ? '' : ': not emulated by this instance'}`];
  for (const ns of n.namespaces) out.push(...namespaceLines(ns));
  for (const b of n.bridges) {
    out.push(`  bridge ${b.name}: ${b.ports.length} ports (${b.ports.map((p) => `${p.name}${p.local ? ' local' : ''}${p.hairpin ? ' hairpin' : ''}${p.up ? '' : ' down'}`).join(', ')})`);
    out.push(`    $ bridge fdb show br ${b.name}`);
    if (b.fdb.length === 0) out.push('    (empty: nothing learned yet)');
    for (const e of b.fdb) out.push(`    ${e.mac} dev ${e.port} master ${b.name}${e.static ? ' permanent' : ` (age ${(e.ageMs / 1000).toFixed(1)}s)`}`);
  }
  if (n.vtep !== null) {
    const v = n.vtep;
    out.push(`  vtep ${v.name}`);
    out.push(`    $ ip -d link show ${v.name}`);
    out.push(`    ${v.name}: mtu ${v.mtu} link/ether ${v.mac} vxlan id ${v.vni} local ${v.localIp} dev eth0 dstport ${v.port} nolearning`);
    out.push(`    $ bridge fdb show dev ${v.name}`);
    if (v.fdb.length === 0) out.push('    (empty)');
    for (const e of v.fdb) out.push(`    ${e.mac} dev ${v.name} dst ${e.dst} self permanent`);
  }
  return out;
}

export function renderInspect(v: InspectView): string {
  const out: string[] = [`cluster ${v.cluster} (overlay ${v.overlay})${v.node !== null ? `, node ${v.node}` : ''}`, ''];
  for (const n of v.nodes) out.push(...nodeLines(n), '');
  out.push(`pods (${v.pods.length})`);
  out.push(...table([
    ['NAME', 'NAMESPACE', 'NODE', 'IP', 'VETH', 'LABELS'],
    ...v.pods.map((p) => [p.name, p.namespace, p.node, p.ip, p.veth, Object.entries(p.labels).map(([k, x]) => `${k}=${x}`).join(',') || '<none>']),
  ], '  '));
  out.push('');
  out.push(`services (${v.services.length})`);
  out.push(...table([
    ['NAME', 'NAMESPACE', 'TYPE', 'CLUSTER-IP', 'PORT(S)', 'ENDPOINTS'],
    ...v.services.map((s) => [
      s.name, s.namespace, s.type, s.clusterIP ?? 'None',
      s.ports.map((p) => `${p.port}${p.nodePort !== null ? `:${p.nodePort}` : ''}/${p.protocol}`).join(',') || '<none>',
      s.endpoints.map((e) => `${e.pod}${e.ip !== null ? `(${e.ip}${e.ports[0] != null ? `:${e.ports[0]}` : ''})` : ''}`).join(',') || '<none>',
    ]),
  ], '  '));
  return out.join('\n');
}
