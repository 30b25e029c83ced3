/**
 * `podwire rules`: kube-proxy's rules on one node, as `iptables-save` or `ipvsadm -Ln` would
 * print them there; from a topology file (built for this listing) or a running podwire.
 */
import { parse, UsageError, type Command } from './args.js';
import { REMOTE_FLAGS, REMOTE_HELP, target } from './cmd-remote.js';
import { request } from './client.js';
import { loadCluster } from '../control/load.js';
import { nodeRules } from '../control/rules.js';

export const rulesCommand: Command = {
  name: 'rules',
  summary: 'print kube-proxy\'s rules on a node as iptables-save or ipvsadm -Ln would',
  help: `usage: podwire rules TOPOLOGY --node NODE [--format iptables-save|ipvsadm|nft] [--table nat|filter] [--service [NS/]NAME]
       podwire rules --api URL --node NODE [...]

Prints the rules kube-proxy programs on NODE for the cluster's services, in the text the
node's own tools print, to diff against a real node: \`iptables-save -t nat\` (or -t filter)
in iptables mode, \`ipvsadm -Ln\` in ipvs mode, \`nft list table ip kube-proxy\` in nftables mode. Chain names are kube-proxy's
(KUBE-SVC-/KUBE-SEP-/KUBE-EXT-/KUBE-SVL- + 16 base32 characters of a sha256). A service
without endpoints has no nat rules: its cluster IP is REJECTed in the filter table.

With TOPOLOGY it builds that cluster for this listing; with --api URL (or $PODWIRE_API)
it asks a running \`podwire up\` (GET /api/v1/nodes/NODE/rules), whose services and
endpoints may have changed since it started.

options:
  --node NODE      the node (required)
  --format F       iptables-save (iptables mode), ipvsadm (ipvs mode) or nft (nftables mode:
                   \`nft list table ip kube-proxy\`); the default is the cluster's mode's
  --table T        nat (default) or filter; iptables-save only
  --service S      only this service's rules (NAME in namespace default, or NS/NAME)
${REMOTE_HELP}`,
  async run(argv, io) {
    const { values, positionals } = parse(argv, {
      ...REMOTE_FLAGS, node: { type: 'string' }, format: { type: 'string' }, table: { type: 'string' }, service: { type: 'string' },
    }, 'rules');
    const [file, extra] = positionals;
    if (extra !== undefined) throw new UsageError(`podwire rules: unexpected argument ${JSON.stringify(extra)}`);
    const api = typeof values['api'] === 'string' ? values['api'] : undefined;
    if (file !== undefined && api !== undefined) throw new UsageError('podwire rules: give TOPOLOGY or --api URL, not both');
    const envApi = process.env['PODWIRE_API'];
    const remote = file === undefined;
    if (remote && api === undefined && (envApi === undefined || envApi === '')) {
      throw new UsageError('podwire rules: missing TOPOLOGY or --api URL (a topology file to build, or a running podwire: --api or $PODWIRE_API)');
    }
    if (typeof values['node'] !== 'string') throw new UsageError('podwire rules: --node NODE is required');
    const str = (k: string): string | undefined => (typeof values[k] === 'string' ? values[k] : undefined);
    const q = {
      ...(str('format') !== undefined ? { format: str('format')! } : {}),
      ...(str('table') !== undefined ? { table: str('table')! } : {}),
      ...(str('service') !== undefined ? { service: str('service')! } : {}),
    };
    if (remote) {
      const qs = new URLSearchParams(q).toString();
      const res = await request(target(values), 'GET', `/nodes/${encodeURIComponent(values['node'])}/rules${qs === '' ? '' : `?${qs}`}`);
      io.out((await res.text()).replace(/\n$/, ''));
      return 0;
    }
    const cluster = await loadCluster(file);
    try {
      io.out(nodeRules(cluster, { node: values['node'], ...q }).replace(/\n$/, ''));
      return 0;
    } finally {
      cluster.close();
    }
  },
};
