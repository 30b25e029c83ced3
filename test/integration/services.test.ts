/**
 * Services end to end on the demo cluster (examples/demo.yaml), over both overlays and both
 * proxy modes: journey 3 (pod1 -> service1, DNAT there and un-DNAT back), hairpin, NodePort
 * on every node, cluster DNS, endpoints that follow pods and services added at run time, and
 * the stale-UDP-conntrack blackhole with kube-proxy's flush on and off.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { httpGet, type HttpResponse } from '../../src/apps/http.js';
import type { UdpEcho } from '../../src/apps/udp-echo.js';
import { examplePath } from '../../src/control/load.js';
import { Cluster } from '../../src/kube/cluster.js';
import { loadTopologyFile, validateTopology } from '../../src/kube/topology.js';
import { runTrace } from '../../src/kube/trace.js';
import { renderTrace } from '../../src/kube/trace-text.js';
import type { ClusterConfig, Topology } from '../../src/kube/types.js';
import type { IpHost } from '../../src/net/ip-host.js';
import { formatIpv4, parseIpv4 } from '../../src/wire/addr.js';
import { DnsRcode, DnsType, emitDnsMessage, parseDnsMessage, type DnsMessage } from '../../src/wire/dns.js';
import { emitIpv4, IpProtocol } from '../../src/wire/ipv4.js';
import { emitUdp, fillUdpChecksum } from '../../src/wire/udp.js';

let demo: Topology;
beforeAll(async () => {
  const r = await loadTopologyFile(examplePath('demo.yaml'));
  if (!r.ok) throw new Error('demo.yaml does not validate');
  demo = r.topology;
});

function cluster(over: Partial<ClusterConfig> = {}): Cluster {
  const t = structuredClone(demo);
  Object.assign(t.cluster, over);
  return new Cluster(t);
}

async function get(c: Cluster, from: IpHost, dst: number, port: number): Promise<HttpResponse> {
  const r = httpGet(from, dst, port, '/', {});
  c.engine.advance(5_000);
  return r;
}

const vipOf = (c: Cluster, name: string, ns = 'default'): number => c.plan.services.find((s) => s.name === name && s.namespace === ns)!.clusterIP;

/** Sends one UDP datagram (src filled in by the stack). */
function sendUdp(host: IpHost, dst: number, sport: number, dport: number, payload: Uint8Array): void {
  const p = host.alloc()!;
  const s = p.start;
  emitIpv4({
    src: host.sourceFor(dst), dst, protocol: IpProtocol.Udp, ttl: 64, payloadLen: 8 + payload.length, ident: 9, dscp: 0, ecn: 0,
    dontFrag: false, moreFrags: false, fragOffset: 0,
  }, p.buf, s);
  emitUdp({ srcPort: sport, dstPort: dport, payloadLen: payload.length }, p.buf, s + 20);
  p.buf.set(payload, s + 28);
  fillUdpChecksum(p.buf, s + 20, host.sourceFor(dst), dst);
  p.end = s + 28 + payload.length;
  host.output(p);
}

interface Datagram { src: number; sport: number; data: Buffer }

function udpInbox(host: IpHost, port: number): Datagram[] {
  const got: Datagram[] = [];
  host.bind(IpProtocol.Udp, port, (p, info) => {
    if (info.protocol === IpProtocol.Udp) got.push({ src: info.src, sport: info.sport, data: Buffer.from(p.buf.subarray(info.payload, info.payload + info.payloadLen)) });
    host.free(p);
  });
  return got;
}

function dnsQuery(id: number, name: string): Buffer {
  const msg: DnsMessage = {
    id, qr: false, opcode: 0, aa: false, tc: false, rd: true, ra: false, ad: false, cd: false, rcode: 0,
    questions: [{ name, type: DnsType.A, class: 1 }], answers: [], authority: [], additional: [],
  };
  const b = Buffer.alloc(512);
  return b.subarray(0, emitDnsMessage(msg, b, 0));
}

const echoOf = (c: Cluster, pod: string): UdpEcho => c.pod(pod).apps.running.find((a) => a.spec.type === 'udp-echo')!.app as UdpEcho;

const MATRIX = [
  { overlay: 'vxlan', proxyMode: 'iptables' },
  { overlay: 'vxlan', proxyMode: 'ipvs' },
  { overlay: 'routed', proxyMode: 'iptables' },
  { overlay: 'routed', proxyMode: 'ipvs' },
] as const;

describe.each(MATRIX)('services over $overlay, $proxyMode mode', ({ overlay, proxyMode }) => {
  const make = (over: Partial<ClusterConfig> = {}): Cluster => cluster({ overlay, proxyMode, ...over });

  it('journey 3: pod1 -> service1:80 reaches pod2 or pod3 on 8080; the reply comes from the VIP', async () => {
    const c = make();
    expect(c.supportsServices).toBe(true);
    const vip = vipOf(c, 'service1');
    const bodies = new Set<string>();
    for (let k = 0; k < 12; k++) {
      const r = await get(c, c.pod('pod1').ns, vip, 80);
      expect(r.status).toBe(200);
      bodies.add(r.body.trim());
    }
    // The client's TCP only accepts segments from the address it connected to, the VIP:
    // every exchange completing proves the un-DNAT. Both endpoints serve.
    expect([...bodies].sort()).toEqual(['pod2', 'pod3']);
    c.close();
  });

  it('journey 3 traced: dnat then un-dnat, rendered in words', () => {
    const c = make();
    const t = runTrace(c, { from: 'pod1', to: 'service1', proto: 'tcp', port: 80 });
    expect(t.request.delivered).toBe(true);
    const dnat = t.request.hops.find((h) => h.action === 'dnat');
    expect(dnat?.node).toBe('node1');
    expect(dnat?.detail).toMatchObject({ mode: proxyMode, vip: '10.96.0.2', port: 80, service: 'default/service1' });
    expect(['10.244.1.3:8080', '10.244.2.2:8080']).toContain(dnat?.detail['endpoint']);
    const deliver = t.request.hops.find((h) => h.action === 'deliver');
    expect(deliver?.netns).toBe(dnat?.detail['pod']);
    expect(t.reply?.hops.some((h) => h.action === 'un-dnat' && h.detail['to'] === '10.96.0.2:80')).toBe(true);
    expect(t.reply?.delivered).toBe(true);
    const text = renderTrace(t);
    expect(text).toMatch(/DNAT to 10\.244\.\d\.\d:8080/);
    expect(text).toContain('10.96.0.2');
    c.close();
  });

  it('NodePort: reachable from a pod through every node\'s address', async () => {
    const c = make();
    const svc = c.addService({ name: 'web-np', type: 'NodePort', selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080, nodePort: 30080 }] });
    expect(svc.ports[0]!.nodePort).toBe(30080);
    for (const node of c.plan.nodes) {
      const r = await get(c, c.pod('pod1').ns, node.ip, 30080);
      expect(r.status, formatIpv4(node.ip)).toBe(200);
      expect(['pod2', 'pod3']).toContain(r.body.trim());
    }
    c.close();
  });

  it('NodePort with externalTrafficPolicy Local: only the receiving node\'s pods, from outside the pod CIDR', async () => {
    const c = make();
    c.addService({ name: 'web-local', type: 'NodePort', externalTrafficPolicy: 'Local', selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080, nodePort: 30081 }] });
    const node1 = c.node('node1').root;
    const node2ip = c.node('node2').plan.ip;
    for (let k = 0; k < 4; k++) expect((await get(c, node1, node2ip, 30081)).body.trim()).toBe('pod3');
    // No endpoint on the node: refused, with a reason in the trace.
    c.removePod('pod3');
    await expect(get(c, node1, node2ip, 30081)).rejects.toThrow();
    c.close();
  });

  it('hairpin: a pod reaches itself through its service with hairpinMode on; dropped at the bridge with it off', async () => {
    for (const hairpinMode of [true, false]) {
      const c = make({ hairpinMode });
      c.addService({ name: 'solo', selector: { app: 'solo' }, ports: [{ port: 80, targetPort: 8080 }] });
      // No endpoints yet: refused.
      const none = runTrace(c, { from: 'pod1', to: 'solo', proto: 'tcp', port: 80 });
      expect(none.request.delivered).toBe(false);
      expect(none.request.hops.some((h) => JSON.stringify(h.detail).includes('no-endpoints'))).toBe(true);
      // Endpoints follow pods.
      c.addPod({ name: 'pod4', node: 'node1', labels: { app: 'solo' }, apps: [{ type: 'http', port: 8080 }] });
      const t = runTrace(c, { from: 'pod4', to: 'solo', proto: 'tcp', port: 80 });
      if (hairpinMode) {
        expect(t.request.delivered).toBe(true);
        expect(t.request.hops.some((h) => h.action === 'snat')).toBe(true);
        expect((await get(c, c.pod('pod4').ns, vipOf(c, 'solo'), 80)).body.trim()).toBe('pod4');
      } else {
        expect(t.request.delivered).toBe(false);
        expect(t.request.dropReason).toBe('hairpin-off');
        expect(renderTrace(t)).toContain('hairpin-off');
      }
      // Others still reach it either way.
      expect((await get(c, c.pod('pod1').ns, vipOf(c, 'solo'), 80)).body.trim()).toBe('pod4');
      c.close();
    }
  });

  it('cluster DNS: a pod resolves service names through kube-dns at 10.96.0.10; records follow services', () => {
    const c = make();
    const pod1 = c.pod('pod1').ns;
    const inbox = udpInbox(pod1, 5353);
    const dnsVip = parseIpv4('10.96.0.10');
    const ask = (id: number, name: string): DnsMessage => {
      sendUdp(pod1, dnsVip, 5353, 53, dnsQuery(id, name));
      c.engine.advance(1000);
      const d = inbox.shift();
      expect(d, name).toBeDefined();
      expect(d!.src).toBe(dnsVip); // answered from the VIP (un-DNAT)
      const m = parseDnsMessage(d!.data, 0, d!.data.length);
      if (typeof m === 'number') throw new Error(`bad DNS answer ${m}`);
      expect(m.id).toBe(id);
      return m;
    };
    const a = ask(1, 'service1.default.svc.cluster.local');
    expect(a.rcode).toBe(DnsRcode.NoError);
    expect(a.answers.map((r) => r.data)).toEqual([{ kind: 'a', address: vipOf(c, 'service1') }]);
    expect(ask(2, 'kube-dns.kube-system.svc.cluster.local').answers[0]?.data).toEqual({ kind: 'a', address: dnsVip });
    const late = c.addService({ name: 'late', selector: { app: 'web' }, ports: [{ port: 81, targetPort: 8080 }] });
    expect(ask(3, 'late.default.svc.cluster.local').answers[0]?.data).toEqual({ kind: 'a', address: late.clusterIP });
    c.removeService('late');
    expect(ask(4, 'late.default.svc.cluster.local').rcode).toBe(DnsRcode.NXDomain);
    c.close();
  });

  describe.each([true, false])('stale UDP conntrack, flushStaleUdp %s', (flushStaleUdp) => {
    it(flushStaleUdp ? 'after the endpoint pod goes, the next datagram reaches a live one' : 'datagrams keep going to the dead pod until the entry times out', () => {
      const c = make({ flushStaleUdp });
      const svc = c.addService({ name: 'echo', selector: { app: 'web' }, ports: [{ port: 9000, protocol: 'UDP' }] });
      const pod1 = c.pod('pod1').ns;
      const inbox = udpInbox(pod1, 6000);
      const ping = (): Datagram | undefined => {
        sendUdp(pod1, svc.clusterIP, 6000, 9000, Buffer.from('ping'));
        c.engine.advance(1000);
        return inbox.shift();
      };
      const first = ping();
      expect(first?.src).toBe(svc.clusterIP);
      const served = ['pod2', 'pod3'].find((p) => echoOf(c, p).counters.get('rx') === 1)!;
      const other = served === 'pod2' ? 'pod3' : 'pod2';
      expect(served).toBeDefined();
      c.removePod(served);
      if (flushStaleUdp) {
        const r = ping();
        expect(r?.src).toBe(svc.clusterIP);
        expect(echoOf(c, other).counters.get('rx')).toBe(1);
      } else {
        // The entry (ASSURED once the talk goes on past 2 s: 120 s stream timeout) still points at the dead
        // address, and every datagram refreshes it: a blackhole for as long as the client talks.
        for (let k = 0; k < 5; k++) {
          expect(ping()).toBeUndefined();
          c.engine.advance(20_000);
        }
        expect(echoOf(c, other).counters.get('rx')).toBe(0);
        // Silence for longer than the UDP stream timeout: the entry expires, a new one is made.
        c.engine.advance(121_000);
        const r = ping();
        expect(r?.src).toBe(svc.clusterIP);
        expect(echoOf(c, other).counters.get('rx')).toBe(1);
      }
      c.close();
    });
  });
});

describe('stale UDP conntrack: kube-proxy\'s reconcile (CleanStaleEntries)', () => {
  /** A UDP client on pod1 port 6000 to `vip`:9000: true when the datagram is answered (from the VIP). */
  const pinger = (c: Cluster, vip: number): (() => boolean) => {
    const pod1 = c.pod('pod1').ns;
    const inbox = udpInbox(pod1, 6000);
    return () => {
      inbox.length = 0;
      sendUdp(pod1, vip, 6000, 9000, Buffer.from('ping'));
      c.engine.advance(1000);
      return inbox.some((d) => d.src === vip);
    };
  };

  it.each([true, false])('an endpoint that stops serving (Ready false) loses its entries when others serve, flushStaleUdp %s', (flushStaleUdp) => {
    const c = cluster({ flushStaleUdp });
    const svc = c.addService({ name: 'echo', selector: { app: 'web' }, ports: [{ port: 9000, protocol: 'UDP' }] });
    const ping = pinger(c, svc.clusterIP);
    expect(ping()).toBe(true);
    const served = ['pod2', 'pod3'].find((p) => echoOf(c, p).counters.get('rx') === 1)!;
    const other = served === 'pod2' ? 'pod3' : 'pod2';
    c.setPodConditions(served, { ready: false }); // the pod stays, its address too: only its readiness changed
    expect(ping()).toBe(true); // the unready pod still answers over the old entry...
    expect(echoOf(c, other).counters.get('rx')).toBe(flushStaleUdp ? 1 : 0); // ...unless kube-proxy deleted it
    c.close();
  });

  it.each([true, false])('a UDP service from no endpoints to one: an entry the client made before (not DNATed) is deleted, flushStaleUdp %s', (flushStaleUdp) => {
    const c = cluster({ flushStaleUdp });
    const svc = c.addService({ name: 'late', selector: { app: 'late' }, ports: [{ port: 9000, protocol: 'UDP' }] });
    const ping = pinger(c, svc.clusterIP);
    expect(ping()).toBe(false); // no endpoints: REJECTed, and no entry is left
    // The entry a datagram leaves when it passes before kube-proxy programmed the service (the
    // race of kubernetes#48370): original tuple to the VIP, reply from the VIP itself.
    const t = c.services.conntrack.get('node1')!;
    const client = c.pod('pod1').plan.ip;
    expect(t.create(17, client, svc.clusterIP, 6000, 9000, svc.clusterIP, client, 9000, 6000, c.engine.now())).toBeGreaterThanOrEqual(0);
    c.addPod({ name: 'late-0', node: 'node2', labels: { app: 'late' }, apps: [{ type: 'udp-echo', port: 9000 }] });
    // kube-proxy deletes it once the service has a serving endpoint; without that, every datagram follows it, not DNATed
    expect(t.dump(c.engine.now(), { proto: 17, dst: svc.clusterIP }).includes(`src=${formatIpv4(svc.clusterIP)} dst=${formatIpv4(client)}`)).toBe(!flushStaleUdp);
    expect(ping()).toBe(flushStaleUdp);
    c.close();
  });
});

describe('ipvs schedulers through the cluster', () => {
  it('rr alternates the endpoints connection by connection', async () => {
    const c = cluster({ proxyMode: 'ipvs', ipvsScheduler: 'rr' });
    const seq: string[] = [];
    for (let k = 0; k < 6; k++) seq.push((await get(c, c.pod('pod1').ns, vipOf(c, 'service1'), 80)).body.trim());
    expect(seq).toEqual(['pod2', 'pod3', 'pod2', 'pod3', 'pod2', 'pod3']);
    c.close();
  });

  it('ClientIP affinity: every connection of pod1 goes to one endpoint', async () => {
    const c = cluster({ proxyMode: 'iptables' });
    c.addService({ name: 'sticky', sessionAffinity: 'ClientIP', selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] });
    const seen = new Set<string>();
    for (let k = 0; k < 8; k++) seen.add((await get(c, c.pod('pod1').ns, vipOf(c, 'sticky'), 80)).body.trim());
    expect(seen.size).toBe(1);
    c.close();
  });
});

describe('headless and ExternalName services through the cluster', () => {
  it('a headless service has no VIP and no kube-proxy rules; DNS answers the pods, <hostname>.<subdomain>, and the CNAME', async () => {
    const text = (await import('node:fs/promises')).readFile(examplePath('demo.yaml'), 'utf8');
    const doc = (await import('yaml')).parse(await text) as { pods: Record<string, unknown>[]; services: unknown[] };
    Object.assign(doc.pods[1]!, { hostname: 'web-a', subdomain: 'web-hl' });
    doc.services.push(
      { name: 'web-hl', clusterIP: 'None', selector: { app: 'web' }, ports: [{ name: 'http', port: 8080 }] },
      { name: 'ext', type: 'ExternalName', externalName: 'www.example.com' },
    );
    const r = validateTopology(doc);
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    const c = new Cluster(r.topology);
    try {
      const hl = c.plan.services.find((s) => s.name === 'web-hl')!;
      expect([hl.clusterIP, hl.headless, hl.endpoints]).toEqual([0, true, ['pod2', 'pod3']]);
      expect(c.services.rules('node1').some((l) => l.includes('web-hl') || l.includes('/ext'))).toBe(false);
      expect(c.services.resolved().map((s) => s.plan.name)).not.toContain('web-hl');
      expect(c.services.describe()).toContain('default/web-hl None -> pod2, pod3');
      const ipOf = (p: string): number => c.plan.pods.find((x) => x.name === p)!.ip;
      const rec = c.services.records;
      expect(rec.answer('web-hl.default.svc.cluster.local', DnsType.A).answers.map((x) => x.data)).toEqual([
        { kind: 'a', address: ipOf('pod2') }, { kind: 'a', address: ipOf('pod3') }]);
      expect(rec.answer('web-a.web-hl.default.svc.cluster.local', DnsType.A).answers.map((x) => x.data)).toEqual([{ kind: 'a', address: ipOf('pod2') }]);
      const pod3Host = formatIpv4(ipOf('pod3')).replaceAll('.', '-');
      expect(rec.answer('_http._tcp.web-hl.default.svc.cluster.local', DnsType.SRV).answers.map((x) => x.data.kind === 'srv' && x.data.target))
        .toEqual(['web-a.web-hl.default.svc.cluster.local', `${pod3Host}.web-hl.default.svc.cluster.local`]);
      expect(rec.answer('ext.default.svc.cluster.local', DnsType.A).answers.map((x) => x.data)).toEqual([{ kind: 'name', target: 'www.example.com' }]);
      const late = c.addService({ name: 'late-hl', clusterIP: 'None', selector: { app: 'web' }, ports: [{ port: 8080 }] });
      expect([late.clusterIP, late.headless]).toEqual([0, true]);
      expect(rec.answer('late-hl.default.svc.cluster.local', DnsType.A).answers).toHaveLength(2);
      c.removeService('late-hl');
      c.removeService('web-hl');
      expect(rec.answer('web-hl.default.svc.cluster.local', DnsType.A).rcode).toBe(DnsRcode.NXDomain);
    } finally {
      c.close();
    }
  });
});
