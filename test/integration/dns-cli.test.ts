/**
 * `podwire dns` through `main(argv, io)`: the queries a pod's resolver sends for a short
 * name (search list first under ndots:5), the answer in dig's format, and usage errors.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApi, type StartedApi } from '../../src/api/server.js';
import { demoController, type Harness, runCli } from './helpers.js';

const run = runCli;

const DEMO = 'examples/demo.yaml';

describe('podwire dns', () => {
  it('a short name: the first search domain answers, in dig\'s answer format', async () => {
    const r = await run('dns', DEMO, '--from', 'pod1', 'service1');
    expect(r.code).toBe(0);
    expect(r.out.split('\n')).toEqual([
      ';; default/pod1 resolv.conf: nameserver 10.96.0.10; search default.svc.cluster.local svc.cluster.local cluster.local; options ndots:5',
      ';; query 1: service1.default.svc.cluster.local. IN A -> NOERROR',
      ';; service1 has 0 dots (< ndots:5): the search list comes first, the name as given last',
      expect.stringMatching(/^service1\.default\.svc\.cluster\.local\.\t5\tIN\tA\t10\.96\.0\.\d+$/),
    ]);
  });

  it('an outside name goes through the whole search list before the name itself (ndots:5)', async () => {
    const r = await run('dns', DEMO, '--from', 'pod1', 'api.example.com');
    expect(r.code).toBe(0);
    expect(r.out.split('\n').filter((l) => l.startsWith(';; query'))).toEqual([
      ';; query 1: api.example.com.default.svc.cluster.local. IN A -> NXDOMAIN',
      ';; query 2: api.example.com.svc.cluster.local. IN A -> NXDOMAIN',
      ';; query 3: api.example.com.cluster.local. IN A -> NXDOMAIN',
      ';; query 4: api.example.com. IN A -> SERVFAIL',
    ]);
    expect(r.out).toMatch(/;; no answer$/);
  });

  it('SRV and TXT in dig\'s format; usage errors', async () => {
    expect((await run('dns', DEMO, '--from', 'pod1', '_http._tcp.service1', 'SRV')).out).toMatch(/\tIN\tSRV\t0 100 80 service1\.default\.svc\.cluster\.local\.$/m);
    expect((await run('dns', DEMO, '--from', 'pod1', 'dns-version.cluster.local.', 'TXT')).out).toMatch(/^dns-version\.cluster\.local\.\t28800\tIN\tTXT\t"1\.1\.0"$/m);
    expect((await run('dns', DEMO, 'service1')).code).not.toBe(0);
    const bad = await run('dns', DEMO, '--from', 'nosuch', 'service1');
    expect(bad.code).not.toBe(0);
    expect(bad.err).toMatch(/nosuch/);
  });
});

describe('podwire dns --api', () => {
  let h: Harness;
  let api: StartedApi;
  beforeAll(async () => {
    h = await demoController();
    api = await startApi(h.ctl, { host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    await api.close();
    await h.done();
  });

  it('asks the running podwire, and prints what the topology form prints', async () => {
    const remote = await run('dns', '--api', api.url, '--from', 'pod1', 'service1');
    expect(remote.code, remote.err).toBe(0);
    expect(remote.out).toBe((await run('dns', DEMO, '--from', 'pod1', 'service1')).out);
  });

  it('sees a service added at runtime; errors name the field and value', async () => {
    expect((await run('dns', '--api', api.url, '--from', 'pod1', 'late')).out).toMatch(/;; no answer$/);
    await h.ctl.addService({ name: 'late', selector: { app: 'web' }, ports: [{ port: 80 }] } as never);
    expect((await run('dns', '--api', api.url, '--from', 'pod1', 'late')).out).toMatch(/^late\.default\.svc\.cluster\.local\.\t5\tIN\tA\t/m);
    const bad = await run('dns', '--api', api.url, '--from', 'nosuch', 'service1');
    expect(bad.code).not.toBe(0);
    expect(bad.err).toMatch(/\/from.*nosuch|nosuch/);
    expect((await run('dns', '--api', api.url, '--from', 'pod1')).err).toMatch(/missing NAME/);
  });
});
