import { describe, expect, it } from 'vitest';
import { loadTapAddon, TapAddonError, TapDevice, TunOffload } from './tap.js';

const missing = '/nonexistent/podwire/build/Release/podwire_tap.node';

describe('TAP addon loading', () => {
  it('explains how to build the addon when it is missing', () => {
    let err: unknown;
    try { loadTapAddon(missing); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(TapAddonError);
    const e = err as TapAddonError;
    expect(e.code).toBe('ERR_PODWIRE_TAP_ADDON');
    expect(e.path).toBe(missing);
    expect(e.message).toContain(missing);
    expect(e.message).toMatch(/npm install/);
    expect(e.message).toMatch(/npm rebuild/);
    expect(e.message).toMatch(/C compiler/);
  });

  it('TapDevice.open reports the missing addon the same way', () => {
    expect(() => TapDevice.open('pw0', { addonPath: missing })).toThrow(TapAddonError);
  });
});

describe('TapDevice.open options (checked before the addon is touched)', () => {
  const opts = { addonPath: missing } as const;
  it('rejects offloads without a virtio-net header', () => {
    expect(() => TapDevice.open('pw0', { ...opts, offloads: TunOffload.Csum })).toThrow(/offloads \(1\) need vnetHdr: true/);
  });
  it('rejects unknown offload bits, bad slot and batch sizes, naming the device and value', () => {
    expect(() => TapDevice.open('pw0', { ...opts, vnetHdr: true, offloads: 0x100 })).toThrow(/TAP device pw0: offloads .* got 256/);
    expect(() => TapDevice.open('pw0', { ...opts, slotSize: 32 })).toThrow(/slotSize .* got 32/);
    expect(() => TapDevice.open('pw0', { ...opts, batchSize: 0 })).toThrow(/batchSize .* got 0/);
  });
  it('accepts valid options (and only then needs the addon)', () => {
    expect(() => TapDevice.open('pw0', { ...opts, vnetHdr: true, offloads: TunOffload.Csum | TunOffload.Tso4 })).toThrow(TapAddonError);
  });
});
