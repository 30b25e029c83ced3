/**
 * Real peer for the cluster DNS codec: dig queries a UDP socket on 127.0.0.1 whose
 * answers come from ClusterDnsRecords.answerQuery. dig parses strictly and warns on any
 * malformed reply ("Message parser reports malformed message packet").
 */
import { execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import type { Socket } from 'node:dgram';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ClusterDnsRecords } from '../../src/kube/dns-records.js';
import { describeE2E } from './prereq.js';

const run = promisify(execFile);

describeE2E('cluster DNS answers dig', ['dig'], () => {
  let sock: Socket;
  let port = 0;
  const records = new ClusterDnsRecords();
  records.setService({ name: 'service1', namespace: 'default', clusterIP: 0x0a600064, ports: [{ name: 'http', port: 80, protocol: 'TCP' }] });
  const out = new Uint8Array(1500);

  beforeAll(async () => {
    sock = createSocket('udp4');
    sock.on('message', (msg, rinfo) => {
      const n = records.answerQuery(msg, out);
      if (n > 0) sock.send(out.subarray(0, n), rinfo.port, rinfo.address);
    });
    await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', resolve));
    port = sock.address().port;
  });
  afterAll(() => { sock.close(); });

  const dig = async (...args: string[]): Promise<string> =>
    (await run('dig', [`@127.0.0.1`, '-p', String(port), '+tries=1', '+time=2', ...args])).stdout;

  it('resolves a service A record', async () => {
    const text = await dig('service1.default.svc.cluster.local', 'A');
    expect(text).not.toMatch(/malformed|FORMERR/i); // .local and RA=0 warnings are expected (CoreDNS gets them too)
    expect(text).toMatch(/status: NOERROR/);
    expect(text).toMatch(/flags: qr aa rd;/);
    expect(text).toMatch(/^service1\.default\.svc\.cluster\.local\.\s+5\s+IN\s+A\s+10\.96\.0\.100$/m);
    expect(text).toMatch(/; EDNS: version: 0, flags:; udp: 1232/);
  });

  it('resolves SRV with the A record in additional, without EDNS too', async () => {
    const text = await dig('+noedns', '_http._tcp.service1.default.svc.cluster.local', 'SRV');
    expect(text).not.toMatch(/malformed|FORMERR/i); // .local and RA=0 warnings are expected (CoreDNS gets them too)
    expect(text).toMatch(/IN\s+SRV\s+0 100 80 service1\.default\.svc\.cluster\.local\.$/m);
    expect(text).toMatch(/ADDITIONAL: 1/);
  });

  it('reports NXDOMAIN with the SOA and SERVFAIL outside the zone (no forwarder)', async () => {
    const nx = await dig('nosuch.default.svc.cluster.local', 'A');
    expect(nx).toMatch(/status: NXDOMAIN/);
    expect(nx).toMatch(/^cluster\.local\.\s+5\s+IN\s+SOA\s+ns\.dns\.cluster\.local\. hostmaster\.cluster\.local\. \d+ 7200 1800 86400 5$/m);
    expect(await dig('example.com', 'A')).toMatch(/status: SERVFAIL/);
  });
});
