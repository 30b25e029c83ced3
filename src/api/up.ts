/**
 * `podwire up`: a cluster that keeps running, in wall-clock time, behind the REST API (the
 * daemon's composition root: it joins the façade, the real sockets and TAPs, and the API).
 *
 * Order of start-up: refuse a non-loopback address without a token (before anything is
 * built or bound), build the cluster (this host's node only with `hostNode`; real UDP
 * sockets for nodes with `vtep.bind`), switch to the wall clock, attach the topology's
 * `attach:` pods, bind the API. Teardown (`close`), in reverse: the façade stops captures
 * and live streams (files flushed and closed), detaches attached pods (their TAPs go),
 * closes the cluster (apps, sockets, timers); then the HTTP server closes.
 */
import { Controller } from '../control/controller.js';
import { loadCluster } from '../control/load.js';
import { openDnsUpstream } from '../io/dns-upstream.js';
import { attachTopologyPods } from '../io/attach.js';
import { openVxlanSocket } from '../io/vxlan-socket.js';
import type { Cluster } from '../kube/cluster.js';
import { checkListen, startApi, type StartedApi } from './server.js';

export interface UpOptions {
  topology: string;
  listen: { host: string; port: number };
  hostNode?: string;
  token?: string | null;
  capturesDir?: string;
  logger?: boolean;
  /** Progress messages ("building the cluster", ...). */
  progress?: (msg: string) => void;
}

export interface Instance {
  readonly cluster: Cluster;
  readonly controller: Controller;
  readonly api: StartedApi;
  readonly attached: string[];
  close(): Promise<{ errors: string[] }>;
}

export async function up(opts: UpOptions): Promise<Instance> {
  const say = opts.progress ?? (() => undefined);
  checkListen(opts.listen, opts.token);
  say(`building the cluster from ${opts.topology}`);
  const cluster = await loadCluster(opts.topology, {
    ...(opts.hostNode !== undefined ? { hostNode: opts.hostNode } : {}),
    vxlanTransport: openVxlanSocket,
    dnsUpstream: openDnsUpstream,
  });
  const controller = new Controller(cluster, opts.capturesDir !== undefined ? { capturesDir: opts.capturesDir } : {});
  try {
    await cluster.ready();
    cluster.engine.useWallClock();
    const pending = cluster.plan.pods.filter((p) => p.attach !== undefined && cluster.nodes.has(p.node));
    if (pending.length > 0) say(`attaching ${pending.length} pod${pending.length === 1 ? '' : 's'}`);
    const attached = (await attachTopologyPods(cluster)).map((a) => a.pod);
    say('starting the API');
    const api = await startApi(controller, opts.listen, { token: opts.token ?? null, logger: opts.logger ?? false });
    return {
      cluster, controller, api, attached,
      async close() {
        const r = await controller.close();
        await api.close();
        return r;
      },
    };
  } catch (e) {
    await controller.close();
    throw e;
  }
}
