/**
 * `podwire capture start|list|stop|download|live`: captures of a running cluster through
 * its API. Files are written by the podwire instance (under its captures folder);
 * `download` copies one here, `live` streams pcapng to stdout for Wireshark.
 */
import { createWriteStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { intFlag, parse, plural, UsageError, type Command } from './args.js';
import { progress, query, request, requestJson } from './client.js';
import { REMOTE_FLAGS, REMOTE_HELP, target } from './cmd-remote.js';

interface CaptureInfo {
  id: string;
  state: string;
  interfaces: string[];
  format: string;
  packets: number;
  bytes: number;
  files: string[];
}

const HELP = `usage: podwire capture start IFACE... [--format pcapng|pcap] [--snaplen N] [--ring-files N (--ring-packets M | --ring-bytes M)] [--json]
       podwire capture list [--json]
       podwire capture stop ID [--json]
       podwire capture download ID [-o FILE|-] [--file N]
       podwire capture live IFACE... [--count N] [--seconds S] [-o FILE|-]

Captures on a running podwire. IFACE names an interface as the cluster does
(node1/eth0, node1/cbr0, node1/veth0, pod1/eth0) or is "all". start writes a file (or a
ring of files) under the instance's captures folder and prints the capture's id; stop
flushes and closes it; download copies a capture file here (a running one as of now);
live streams pcapng as packets pass, e.g.

  podwire capture live node1/cbr0 | wireshark -k -i -

options:
  --format F        pcapng (default; one interface block per IFACE) or pcap
  --snaplen N       bytes kept per packet (64-262144, default 262144)
  --ring-files N    keep a ring of N files ...
  --ring-packets M  ... of M packets each, or
  --ring-bytes M    ... of about M bytes each
  -o, --output F    where download/live write (default: the capture's file name here,
                    for live stdout); "-" is stdout
  --file N          which file of a ring to download (1 = oldest kept; default newest)
  --count N         live: stop after N packets
  --seconds S       live: stop after S seconds
  --json            print the API's answer as JSON
${REMOTE_HELP}`;

function row(c: CaptureInfo): string {
  return `${c.id.padEnd(5)} ${c.state.padEnd(8)} ${String(c.packets).padStart(8)} pkts ${String(c.bytes).padStart(10)} bytes  ${c.format.padEnd(6)} ${c.interfaces.join(',')}\n      ${c.files.join('\n      ')}`;
}

async function writeOut(body: ReadableStream<Uint8Array> | null, out: string, total: number | null): Promise<number> {
  if (body === null) return 0;
  const src = Readable.fromWeb(body as import('node:stream/web').ReadableStream<Uint8Array>);
  const bar = out === '-' ? { update() { /* stdout carries data */ }, done() { /* nothing */ } } : progress();
  let n = 0;
  src.on('data', (b: Buffer) => {
    n += b.length;
    bar.update(`${out}: ${n} bytes${total !== null ? ` of ${total}` : ''}`);
  });
  try {
    await pipeline(src, out === '-' ? process.stdout : createWriteStream(out));
  } finally {
    bar.done();
  }
  return n;
}

export const captureCommand: Command = {
  name: 'capture',
  summary: 'start, list, stop, download or stream captures of a running cluster',
  help: HELP,
  async run(argv, io) {
    const { values, positionals } = parse(argv, {
      ...REMOTE_FLAGS, format: { type: 'string' }, snaplen: { type: 'string' }, 'ring-files': { type: 'string' },
      'ring-packets': { type: 'string' }, 'ring-bytes': { type: 'string' }, output: { type: 'string', short: 'o' },
      file: { type: 'string' }, count: { type: 'string' }, seconds: { type: 'string' }, json: { type: 'boolean' },
    }, 'capture');
    const [sub, ...args] = positionals;
    const t = target(values);
    const json = values['json'] === true;
    const one = (what: string): string => {
      if (args.length !== 1) throw new UsageError(`podwire capture ${sub}: give exactly one ${what}`);
      return args[0]!;
    };
    switch (sub) {
      case 'start': {
        if (args.length === 0) throw new UsageError('podwire capture start: give at least one IFACE (or all)');
        const format = values['format'] ?? 'pcapng';
        if (format !== 'pcapng' && format !== 'pcap') throw new UsageError(`podwire capture: --format ${JSON.stringify(format)} must be pcapng or pcap`);
        const snaplen = intFlag(values['snaplen'], 'snaplen', 'capture', 64, 262144);
        const files = intFlag(values['ring-files'], 'ring-files', 'capture', 2, 10000);
        const packets = intFlag(values['ring-packets'], 'ring-packets', 'capture', 1, 2 ** 31);
        const bytes = intFlag(values['ring-bytes'], 'ring-bytes', 'capture', 4096, 2 ** 40);
        if ((files === undefined) !== (packets === undefined && bytes === undefined)) {
          throw new UsageError('podwire capture: a ring needs --ring-files N and --ring-packets M or --ring-bytes M');
        }
        const body = {
          interfaces: args, format, ...(snaplen !== undefined ? { snaplen } : {}),
          ...(files !== undefined ? { ring: { files, ...(packets !== undefined ? { packets } : {}), ...(bytes !== undefined ? { bytes } : {}) } } : {}),
        };
        const c = await requestJson<CaptureInfo>(t, 'POST', '/captures', body);
        io.out(json ? JSON.stringify(c, null, 2) : `${c.id} capturing ${c.interfaces.length} interface${c.interfaces.length === 1 ? '' : 's'} to ${c.files.join(', ')}`);
        return 0;
      }
      case 'list': {
        if (args.length > 0) throw new UsageError(`podwire capture list: unexpected argument ${JSON.stringify(args[0])}`);
        const r = await requestJson<{ captures: CaptureInfo[] }>(t, 'GET', '/captures');
        if (json) io.out(JSON.stringify(r, null, 2));
        else if (r.captures.length === 0) io.out('no captures');
        else for (const c of r.captures) io.out(row(c));
        return 0;
      }
      case 'stop': {
        const c = await requestJson<CaptureInfo>(t, 'DELETE', `/captures/${encodeURIComponent(one('ID'))}`);
        io.out(json ? JSON.stringify(c, null, 2) : `${c.id} stopped: ${plural(c.packets, 'packet')} in ${c.files.join(', ')}`);
        return 0;
      }
      case 'download': {
        const id = one('ID');
        const file = intFlag(values['file'], 'file', 'capture', 1, 2 ** 31);
        const res = await request(t, 'GET', `/captures/${encodeURIComponent(id)}${query({ file })}`);
        const name = /filename="([^"]+)"/.exec(res.headers.get('content-disposition') ?? '')?.[1] ?? `${id}.pcapng`;
        const out = typeof values['output'] === 'string' ? values['output'] : name;
        const len = res.headers.get('content-length');
        const n = await writeOut(res.body, out, len === null ? null : Number(len));
        if (out !== '-') io.err(`${out}: ${n} bytes`);
        return 0;
      }
      case 'live': {
        if (args.length === 0) throw new UsageError('podwire capture live: give at least one IFACE (or all)');
        const count = intFlag(values['count'], 'count', 'capture', 1, 2 ** 31);
        const seconds = intFlag(values['seconds'], 'seconds', 'capture', 1, 86400);
        const out = typeof values['output'] === 'string' ? values['output'] : '-';
        if (out === '-' && process.stdout.isTTY === true) throw new UsageError('podwire capture live: stdout is a terminal; pipe it (| wireshark -k -i -) or give -o FILE');
        const res = await request(t, 'GET', `/captures/live${query({ iface: args.join(','), count, seconds })}`);
        await writeOut(res.body, out, null);
        return 0;
      }
      case undefined:
        throw new UsageError('podwire capture: give a subcommand: start, list, stop, download or live');
      default:
        throw new UsageError(`podwire capture: unknown subcommand ${JSON.stringify(sub)} (start, list, stop, download, live)`);
    }
  },
};
