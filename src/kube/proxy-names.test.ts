import { describe, expect, it } from 'vitest';
import { base32, endpointChainName, serviceChainName, servicePortName } from './proxy-names.js';

describe('kube-proxy chain names', () => {
  it('match the names iptables-save shows on every kubeadm cluster', () => {
    expect(serviceChainName(servicePortName('default', 'kubernetes', 'https'), 'TCP')).toBe('KUBE-SVC-NPX46M4PTMTKRN6Y');
    expect(serviceChainName(servicePortName('kube-system', 'kube-dns', 'dns'), 'UDP')).toBe('KUBE-SVC-TCOU7JCQXEZGVUNU');
    expect(serviceChainName(servicePortName('kube-system', 'kube-dns', 'dns-tcp'), 'TCP')).toBe('KUBE-SVC-ERIFXISQEP7F7OF4');
  });

  it('endpoint chains depend on the endpoint', () => {
    const a = endpointChainName('default/service1:http', 'TCP', '10.244.1.3:8080');
    const b = endpointChainName('default/service1:http', 'TCP', '10.244.2.2:8080');
    expect(a).toMatch(/^KUBE-SEP-[A-Z2-7]{16}$/);
    expect(a).not.toBe(b);
  });

  it('base32 is RFC 4648 (test vectors)', () => {
    const enc = (s: string): string => base32(Buffer.from(s));
    expect(enc('')).toBe('');
    expect(enc('f')).toBe('MY======');
    expect(enc('fo')).toBe('MZXQ====');
    expect(enc('foo')).toBe('MZXW6===');
    expect(enc('foob')).toBe('MZXW6YQ=');
    expect(enc('fooba')).toBe('MZXW6YTB');
    expect(enc('foobar')).toBe('MZXW6YTBOI======');
  });

  it('a port without a name leaves the colon out', () => {
    expect(servicePortName('default', 'web')).toBe('default/web');
    expect(servicePortName('default', 'web', 'http')).toBe('default/web:http');
  });
});
