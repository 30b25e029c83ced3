/**
 * `podwire dns`: resolve a name from a pod the way its resolver would (src/control/dns-lookup.ts).
 */
import { parse, UsageError, type Command } from './args.js';
import { loadCluster } from '../control/load.js';
import { dnsLookup } from '../control/dns-lookup.js';

export const dnsCommand: Command = {
  name: 'dns',
  summary: 'resolve a name from a pod as its resolver would, answers in dig\'s format',
  help: `usage: podwire dns TOPOLOGY --from POD NAME [TYPE]

Builds the cluster and looks NAME up from POD (NAME or NS/NAME) the way the pod's glibc
resolver does with the resolv.conf kubelet gives it (search <ns>.svc.cluster.local
svc.cluster.local cluster.local, options ndots:5): every query it would send, in order,
with its result, then the answer in dig's answer-section format. TYPE: A (default), AAAA,
SRV, PTR, CNAME, TXT, SOA, ANY.

options:
  --from POD       the asking pod (required)`,
  async run(argv, io) {
    const { values, positionals } = parse(argv, { from: { type: 'string' } }, 'dns');
    const [file, name, type, extra] = positionals;
    if (extra !== undefined) throw new UsageError(`podwire dns: unexpected argument ${JSON.stringify(extra)}`);
    if (file === undefined || name === undefined) throw new UsageError('podwire dns: missing TOPOLOGY or NAME');
    if (typeof values['from'] !== 'string') throw new UsageError('podwire dns: --from POD is required');
    const cluster = await loadCluster(file);
    try {
      io.out(dnsLookup(cluster, { from: values['from'], name, ...(type !== undefined ? { type } : {}) }));
      return 0;
    } finally {
      cluster.close();
    }
  },
};
