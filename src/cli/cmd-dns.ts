/**
 * `podwire dns`: resolve a name from a pod the way its resolver would (src/control/dns-lookup.ts).
 */
import { parse, UsageError, type Command } from './args.js';
import { REMOTE_FLAGS, REMOTE_HELP, target } from './cmd-remote.js';
import { request } from './client.js';
import { loadCluster } from '../control/load.js';
import { dnsLookup } from '../control/dns-lookup.js';

export const dnsCommand: Command = {
  name: 'dns',
  summary: 'resolve a name from a pod as its resolver would, answers in dig\'s format',
  help: `usage: podwire dns TOPOLOGY --from POD NAME [TYPE]
       podwire dns --api URL --from POD NAME [TYPE]

Builds the cluster and looks NAME up from POD (NAME or NS/NAME) the way the pod's glibc
resolver does with the resolv.conf kubelet gives it (search <ns>.svc.cluster.local
svc.cluster.local cluster.local, options ndots:5): every query it would send, in order,
with its result, then the answer in dig's answer-section format. TYPE: A (default), AAAA,
SRV, PTR, CNAME, TXT, SOA, ANY.

With TOPOLOGY it builds that cluster for this lookup; with --api URL (and $PODWIRE_TOKEN) it
asks a running \`podwire up\` (GET /api/v1/dns), whose pods and services may have changed
since it started.

options:
  --from POD       the asking pod (required)
${REMOTE_HELP}`,
  async run(argv, io) {
    const { values, positionals } = parse(argv, { ...REMOTE_FLAGS, from: { type: 'string' } }, 'dns');
    const api = typeof values['api'] === 'string' ? values['api'] : undefined;
    // With --api the positionals are NAME [TYPE]; without it TOPOLOGY NAME [TYPE].
    const remote = api !== undefined;
    const [file, name, type, extra] = remote ? [undefined, ...positionals] : positionals;
    if (extra !== undefined) throw new UsageError(`podwire dns: unexpected argument ${JSON.stringify(extra)}`);
    if (name === undefined) throw new UsageError(remote ? 'podwire dns: missing NAME' : 'podwire dns: missing TOPOLOGY or NAME');
    if (typeof values['from'] !== 'string') throw new UsageError('podwire dns: --from POD is required');
    if (remote) {
      const qs = new URLSearchParams({ from: values['from'], name, ...(type !== undefined ? { type } : {}) }).toString();
      const res = await request(target(values), 'GET', `/dns?${qs}`);
      io.out((await res.text()).replace(/\n$/, ''));
      return 0;
    }
    if (file === undefined) throw new UsageError('podwire dns: missing TOPOLOGY or NAME');
    const cluster = await loadCluster(file);
    try {
      io.out(dnsLookup(cluster, { from: values['from'], name, ...(type !== undefined ? { type } : {}) }));
      return 0;
    } finally {
      cluster.close();
    }
  },
};

