/**
 * Routes for captures (files and live streams) and for attaching real namespaces.
 *
 * `GET /captures/live?iface=node1/cbr0` streams pcapng as packets pass: a chunked
 * response fed from a Readable that the capture pushes one chunk per packet into, so
 * `curl -sN URL | wireshark -k -i -` shows traffic live. A slow reader does not grow
 * memory without bound: past LIVE_BACKLOG bytes queued, whole packet blocks are dropped
 * (the stream stays valid pcapng) and counted in a warning logged when the stream ends.
 * The stream ends when the client goes away, after `count` packets or `seconds`, or
 * when podwire shuts down.
 */
import { createReadStream } from 'node:fs';
import { basename } from 'node:path';
import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { CaptureRequest } from '../control/captures.js';
import type { AttachBody, Controller } from '../control/controller.js';
import { attachBody, captureBody, captureParams, downloadQuery, emptyQuery, liveQuery, podParams } from './schemas.js';

/** Bytes a live stream may have queued for a slow client before packets are dropped. */
export const LIVE_BACKLOG = 8 * 1024 * 1024;

const MIME = { pcapng: 'application/x-pcapng', pcap: 'application/vnd.tcpdump.pcap' } as const;

export function captureRoutes(app: FastifyInstance, ctl: Controller): void {
  app.post('/captures', {
    schema: { summary: 'Start a capture to a file (or a ring of files) under the captures folder', tags: ['captures'], body: captureBody },
    config: { errors: [400, 404], status: 201 },
  }, async (req, reply) => reply.code(201).send(await ctl.mutate(() => ctl.captures.start(req.body as CaptureRequest))));

  app.get('/captures', {
    schema: { summary: 'Captures of this instance, running and stopped', tags: ['captures'], querystring: emptyQuery },
  }, () => ({ captures: ctl.captures.list() }));

  app.get('/captures/live', {
    schema: { summary: 'Stream pcapng live as packets pass (curl -sN URL | wireshark -k -i -)', tags: ['captures'], querystring: liveQuery },
    config: { errors: [400, 404], produces: ['application/x-pcapng'] },
  }, (req, reply) => {
    const q = req.query as { iface: string; snaplen?: number; count?: number; seconds?: number };
    const out = new Readable({ read() { /* pushed by the capture */ } });
    let dropped = 0;
    let timer: NodeJS.Timeout | null = null;
    const live = ctl.captures.live(q.iface, (chunk) => {
      if (out.readableLength > LIVE_BACKLOG) dropped++;
      else out.push(chunk);
    }, {
      ...(q.snaplen !== undefined ? { snaplen: q.snaplen } : {}),
      ...(q.count !== undefined ? { maxPackets: q.count } : {}),
      onEnd: () => {
        if (timer !== null) clearTimeout(timer);
        if (dropped > 0) req.log.warn({ dropped }, 'live capture: packets dropped for a slow reader');
        out.push(null);
      },
    });
    if (q.seconds !== undefined) timer = setTimeout(() => live.stop(), q.seconds * 1000);
    const sock = req.raw.socket as { setNoDelay?: (v: boolean) => void } | undefined;
    if (typeof sock?.setNoDelay === 'function') sock.setNoDelay(true);
    reply.raw.on('close', () => live.stop());
    return reply
      .header('content-type', MIME.pcapng)
      .header('cache-control', 'no-store')
      .header('x-podwire-interfaces', live.interfaces.join(','))
      .send(out);
  });

  app.get('/captures/:id', {
    schema: { summary: 'Download a capture file (?file=N picks a ring file, 1 = oldest kept; default the newest)', tags: ['captures'], params: captureParams, querystring: downloadQuery },
    config: { errors: [400, 404], produces: ['application/x-pcapng', 'application/vnd.tcpdump.pcap'] },
  }, (req, reply) => {
    const { id } = req.params as { id: string };
    const { file } = req.query as { file?: number };
    const d = ctl.captures.download(id, file);
    reply.header('content-type', MIME[d.format]).header('content-disposition', `attachment; filename="${basename(d.path)}"`);
    return reply.send(d.snapshot ?? createReadStream(d.path));
  });

  app.delete('/captures/:id', {
    schema: { summary: 'Stop a capture (its file is flushed and closed; it stays downloadable)', tags: ['captures'], params: captureParams },
    config: { errors: [400, 404] },
  }, (req) => ctl.mutate(() => ctl.captures.stop((req.params as { id: string }).id)));

  app.post('/attach', {
    schema: { summary: 'Attach a real network namespace (netns name, process id or container) as a pod, through a TAP device or the container\'s veth', tags: ['attach'], body: attachBody },
    config: { errors: [400, 404, 409, 500, 501, 503], status: 201 },
  }, async (req, reply) => reply.code(201).send(await ctl.attach(req.body as AttachBody)));

  app.delete('/attach/:pod', {
    schema: { summary: 'Detach a pod: its TAP device goes away', tags: ['attach'], params: podParams },
    config: { errors: [400, 404, 501] },
  }, (req) => ctl.detach((req.params as { pod: string }).pod));
}
