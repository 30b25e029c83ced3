/**
 * tshark reads the capture files `podwire demo` writes: every file opens, holds the number
 * of packets the demo reports for it (Capture.perPoint), decodes as Ethernet/ARP/IPv4 with
 * valid checksums, carries the traced ICMP on the pod interfaces (one echo request or reply
 * per time the journeys crossed that pod's veth pair), and shows the overlay on the nodes'
 * eth0: VXLAN (decoded with `-d udp.port==8472,vxlan`) around the pods' packets, one per
 * encap/decap hop the journeys recorded on that node.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runDemo, type DemoResult } from '../../src/control/demo.js';
import type { Hop } from '../../src/engine/trace.js';
import { describeE2E } from './prereq.js';
import { tempDir, tsharkRecords } from './tshark-util.js';

describeE2E('podwire demo captures, decoded by tshark', ['tshark'], () => {
  const tmp = tempDir('podwire-demo-tshark-');
  let demo: DemoResult;
  let hops: Hop[];
  beforeAll(async () => {
    demo = await runDemo({ out: tmp.dir });
    hops = demo.journeys.flatMap((j) => [...j.request.hops, ...(j.reply?.hops ?? []), ...(j.reset?.hops ?? [])]);
  });
  afterAll(() => tmp.remove());

  const file = (iface: string): string => {
    const f = demo.captures.find((c) => c.interface === iface);
    if (f === undefined) throw new Error(`no capture of ${iface} (have ${demo.captures.map((c) => c.interface).join(', ')})`);
    return f.file;
  };
  const DECODE = ['-d', 'udp.port==8472,vxlan', '-o', 'ip.check_checksum:TRUE'];

  it('opens every file with the packet count the demo reports, each frame Ethernet with a good IPv4 checksum', () => {
    for (const c of demo.captures) {
      const rows = tsharkRecords(c.file, ['frame.number', 'frame.protocols', 'ip.checksum.status', 'frame.interface_name'], DECODE);
      expect(rows.length, c.interface).toBe(c.packets);
      for (const r of rows) {
        expect(r['frame.protocols'], c.interface).toMatch(/^eth:ethertype:(arp|ip)/);
        expect(r['frame.interface_name']).toBe(c.interface);
        const st = r['ip.checksum.status'] ?? '';
        if (st !== '') expect(st.split(',').every((s) => s === '1'), `${c.interface} #${r['frame.number']}`).toBe(true);
      }
    }
  });

  it('shows on each pod eth0 one ICMP echo per time an ICMP journey crossed its veth pair', () => {
    const icmpJourneys = demo.journeys.filter((j) => j.result.proto === 'icmp').flatMap((j) => [...j.request.hops, ...(j.reply?.hops ?? [])]);
    for (const pod of ['pod1', 'pod2', 'pod3']) {
      const crossings = icmpJourneys.filter((h) => h.action === 'veth' && (h.detail['from'] === `${pod}/eth0` || h.detail['to'] === `${pod}/eth0`));
      const rows = tsharkRecords(file(`${pod}/eth0`), ['icmp.type', 'ip.src', 'ip.dst', 'icmp.checksum.status'], [...DECODE, '-Y', 'icmp']);
      expect(rows.length, `${pod}/eth0`).toBe(crossings.length);
      expect(rows.every((r) => r['icmp.type'] === '8' || r['icmp.type'] === '0')).toBe(true);
      expect(rows.every((r) => r['icmp.checksum.status'] === '1')).toBe(true);
    }
    const pod1 = tsharkRecords(file('pod1/eth0'), ['icmp.type', 'ip.dst'], [...DECODE, '-Y', 'icmp.type==8']);
    expect(pod1.map((r) => r['ip.dst']).sort()).toEqual(['10.244.1.3', '10.244.2.2']);
  });

  it('shows the overlay on the nodes\' eth0: VXLAN around the pods\' packets, or the pods\' packets unchanged (routed)', () => {
    const vxlan = hops.some((h) => h.action === 'vxlan-encap');
    for (const node of ['node1', 'node2']) {
      const here = hops.filter((h) => h.node === node && (h.action === 'vxlan-encap' || h.action === 'vxlan-decap')).length;
      const rows = tsharkRecords(file(`${node}/eth0`), ['vxlan.vni', 'ip.src', 'ip.dst', 'udp.dstport', 'ip.ttl'], [...DECODE, '-Y', 'ip']);
      if (!vxlan) {
        expect(rows.every((r) => r['vxlan.vni'] === '')).toBe(true);
        continue;
      }
      const vx = rows.filter((r) => r['vxlan.vni'] !== '');
      expect(vx.length, `${node}/eth0`).toBe(here);
      for (const r of vx) {
        expect(r['vxlan.vni']).toBe('1');
        expect((r['udp.dstport'] ?? '').split(',')[0]).toBe('8472');
        const [outerSrc, innerSrc] = (r['ip.src'] ?? '').split(',');
        expect(outerSrc).toMatch(/^192\.168\.56\.1[12]$/); // the nodes' underlay addresses
        expect(innerSrc).toMatch(/^10\.244\.[12]\.\d+$/); // a pod inside
        const [outerTtl, innerTtl] = (r['ip.ttl'] ?? '').split(',').map(Number);
        expect(outerTtl).toBe(64);
        expect(innerTtl).toBe(63); // decremented once, by the sending node
      }
    }
  });
});
