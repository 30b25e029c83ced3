import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { RouteTable, formatRoute, type Route } from './route-table.js';
import { parseIpv4, prefixMask } from '../wire/addr.js';

const ip = parseIpv4;

function route(cidr: string, over: Partial<Route> = {}): Route {
  const [a, len] = cidr.split('/');
  return { dst: ip(a!), prefix: Number(len), via: 0, dev: 1, onlink: false, metric: 0, proto: 'static', src: 0, ...over };
}

const names = ['lo', 'eth0', 'cbr0', 'flannel.1'];
const ifName = (i: number): string => names[i] ?? `if${i}`;

describe('RouteTable', () => {
  it('longest prefix match over overlapping /0, /8, /16, /24, /32', () => {
    const t = new RouteTable();
    t.add(route('0.0.0.0/0', { via: ip('192.168.56.1'), dev: 1 }));
    t.add(route('10.0.0.0/8', { dev: 2 }));
    t.add(route('10.244.0.0/16', { dev: 3 }));
    t.add(route('10.244.1.0/24', { dev: 4 }));
    t.add(route('10.244.1.7/32', { dev: 5 }));
    expect(t.size).toBe(5);
    expect(t.lookup(ip('10.244.1.7'))!.dev).toBe(5);
    expect(t.lookup(ip('10.244.1.8'))!.dev).toBe(4);
    expect(t.lookup(ip('10.244.2.8'))!.dev).toBe(3);
    expect(t.lookup(ip('10.1.2.3'))!.dev).toBe(2);
    expect(t.lookup(ip('8.8.8.8'))!.dev).toBe(1);
    expect(t.lookup(ip('255.255.255.255'))!.dev).toBe(1);
    t.remove(ip('0.0.0.0'), 0);
    expect(t.lookup(ip('8.8.8.8'))).toBeNull();
  });

  it('breaks ties between routes to the same prefix by the lowest metric', () => {
    const t = new RouteTable();
    t.add(route('10.0.0.0/24', { dev: 1, metric: 200 }));
    t.add(route('10.0.0.0/24', { dev: 2, metric: 100 }));
    t.add(route('10.0.0.0/24', { dev: 3, metric: 300 }));
    expect(t.lookup(ip('10.0.0.9'))!.dev).toBe(2);
    expect(t.remove(ip('10.0.0.0'), 24, 2)).toBe(true);
    expect(t.lookup(ip('10.0.0.9'))!.dev).toBe(1);
    expect(t.size).toBe(2);
  });

  it('replaces the route with the same dst/prefix/metric', () => {
    const t = new RouteTable({ capacity: 1 });
    t.add(route('10.244.2.0/24', { via: ip('192.168.56.12'), dev: 1 }));
    t.add(route('10.244.2.0/24', { via: ip('10.244.2.0'), dev: 3, onlink: true, proto: 'flannel' }));
    expect(t.size).toBe(1);
    expect(t.overflow).toBe(0);
    expect(formatRoute(t.lookup(ip('10.244.2.5'))!, ifName)).toBe('10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink');
  });

  it('removes by dst/prefix (all metrics), by dev, and everything on a device', () => {
    const t = new RouteTable();
    t.add(route('10.0.0.0/24', { dev: 1 }));
    t.add(route('10.0.0.0/24', { dev: 2, metric: 5 }));
    t.add(route('10.0.1.0/24', { dev: 2 }));
    t.add(route('0.0.0.0/0', { dev: 2, via: ip('10.0.1.1') }));
    expect(t.remove(ip('10.0.0.0'), 24, 9)).toBe(false);
    expect(t.remove(ip('10.0.0.0'), 16)).toBe(false);
    expect(t.removeDev(2)).toBe(3);
    expect(t.list().map((r) => r.dev)).toEqual([1]);
    expect(t.remove(ip('10.0.0.0'), 24)).toBe(true);
    expect(t.size).toBe(0);
    expect(t.lookup(ip('10.0.0.1'))).toBeNull();
  });

  it('rejects invalid routes with an error naming them, and counts overflow when full', () => {
    const t = new RouteTable({ capacity: 2 });
    expect(() => t.add(route('10.0.0.1/24'))).toThrow(/10\.0\.0\.1\/24.*host bits set/);
    expect(() => t.add(route('10.0.0.0/33'))).toThrow(/prefix length 33/);
    expect(() => t.add(route('10.0.0.0/24', { metric: -1 }))).toThrow(/metric -1/);
    expect(() => t.add({ ...route('10.0.0.0/24'), dst: -5 })).toThrow(/destination -5/);
    t.add(route('10.0.0.0/24'));
    t.add(route('10.0.1.0/24'));
    expect(() => t.add(route('10.0.2.0/24', { via: ip('10.0.0.1') }))).toThrow(/table full.*10\.0\.2\.0\/24 via 10\.0\.0\.1/);
    expect(t.overflow).toBe(1);
    expect(t.size).toBe(2);
  });

  it('keeps onlink gateways and copies routes in and out', () => {
    const t = new RouteTable();
    const r = route('10.244.3.0/24', { via: ip('192.168.56.13'), onlink: true });
    t.add(r);
    r.dev = 99;
    const got = t.lookup(ip('10.244.3.1'))!;
    expect(got.onlink).toBe(true);
    expect(got.dev).toBe(1);
    t.list()[0]!.dev = 42;
    expect(t.lookup(ip('10.244.3.1'))!.dev).toBe(1);
  });

  it('lists like `ip route`: by destination, longer prefix first, then metric', () => {
    const t = new RouteTable();
    t.add(route('10.244.1.0/24', { dev: 2, proto: 'kernel', src: ip('10.244.1.1') }));
    t.add(route('10.244.0.0/16', { dev: 3, via: ip('10.244.0.0'), onlink: true }));
    t.add(route('0.0.0.0/0', { dev: 1, via: ip('192.168.56.1'), metric: 100 }));
    t.add(route('0.0.0.0/0', { dev: 1, via: ip('192.168.56.2') }));
    t.add(route('10.244.0.0/24', { dev: 2 }));
    t.add(route('192.168.56.11/32', { dev: 1 }));
    expect(t.list().map((r) => formatRoute(r, ifName))).toEqual([
      'default via 192.168.56.2 dev eth0',
      'default via 192.168.56.1 dev eth0 metric 100',
      '10.244.0.0/24 dev cbr0 scope link',
      '10.244.0.0/16 via 10.244.0.0 dev flannel.1 onlink',
      '10.244.1.0/24 dev cbr0 proto kernel scope link src 10.244.1.1',
      '192.168.56.11 dev eth0 scope link',
    ]);
  });

  it('formats the routes of a flannel node like `ip route`', () => {
    expect(formatRoute(route('10.244.2.0/24', { via: ip('192.168.56.12'), onlink: true }), ifName))
      .toBe('10.244.2.0/24 via 192.168.56.12 dev eth0 onlink');
    expect(formatRoute(route('0.0.0.0/0', { via: ip('10.244.1.1') }), ifName)).toBe('default via 10.244.1.1 dev eth0');
    expect(formatRoute(route('10.244.1.0/24', { dev: 2, proto: 'kernel', src: ip('10.244.1.1') }), ifName))
      .toBe('10.244.1.0/24 dev cbr0 proto kernel scope link src 10.244.1.1');
  });

  it('agrees with a naive linear longest-prefix match on random tables', () => {
    const arbRoute = fc.record({
      base: fc.integer({ min: 0, max: 0xffff_ffff }),
      prefix: fc.oneof(fc.constantFrom(0, 8, 16, 24, 32), fc.integer({ min: 0, max: 32 })),
      metric: fc.integer({ min: 0, max: 3 }),
      dev: fc.integer({ min: 1, max: 1000 }),
    });
    fc.assert(
      fc.property(fc.array(arbRoute, { maxLength: 60 }), fc.array(fc.integer({ min: 0, max: 0xffff_ffff }), { maxLength: 40 }), (rs, probes) => {
        const t = new RouteTable();
        const model = new Map<string, Route>();
        for (const x of rs) {
          const r = route('0.0.0.0/0', { dst: (x.base & prefixMask(x.prefix)) >>> 0, prefix: x.prefix, metric: x.metric, dev: x.dev });
          t.add(r);
          model.set(`${r.dst}/${r.prefix}/${r.metric}`, r);
        }
        // probe the table's own prefixes too, so hits are common
        const ips = [...probes, ...rs.map((x) => x.base >>> 0)];
        for (const a of ips) {
          let best: Route | null = null;
          for (const r of model.values()) {
            if (((a & prefixMask(r.prefix)) >>> 0) !== r.dst) continue;
            if (best === null || r.prefix > best.prefix || (r.prefix === best.prefix && r.metric < best.metric)) best = r;
          }
          expect(t.lookup(a)).toEqual(best);
        }
        expect(t.size).toBe(model.size);
      }),
      { numRuns: 300 },
    );
  });

  it('finds the right route among thousands', () => {
    const t = new RouteTable();
    for (let i = 0; i < 5000; i++) t.add(route('0.0.0.0/0', { dst: ((10 << 24) | (i << 8)) >>> 0, prefix: 24, dev: 2 }));
    t.add(route('0.0.0.0/0', { via: ip('192.168.0.1') }));
    expect(t.lookup(ip('10.0.19.1'))!.dev).toBe(2);
    expect(t.lookup(ip('11.0.0.1'))!.dev).toBe(1);
    expect(t.size).toBe(5001);
  });
});
