/**
 * `POST /probe`: the reachability matrix of the running cluster (src/control/probe.ts), as
 * `podwire probe --api` asks for it. Runs under the Controller's lock, in wall time: each
 * round of probes is drained, then the event loop gets a moment for answers.
 */
import type { FastifyInstance } from 'fastify';
import type { Controller } from '../control/controller.js';
import { toControlError } from '../control/errors.js';
import { probeBodyOn, type ProbeBody } from '../control/probe.js';

const PORT = { type: 'integer', minimum: 1, maximum: 65535 } as const;

export const probeBodySchema = {
  type: 'object', additionalProperties: false,
  properties: {
    ports: { type: 'array', items: PORT, minItems: 1, maxItems: 64, uniqueItems: true },
    protocols: { type: 'array', items: { type: 'string', enum: ['tcp', 'udp', 'sctp', 'icmp', 'TCP', 'UDP', 'SCTP', 'ICMP'] }, minItems: 1, maxItems: 4, uniqueItems: true },
    targets: {
      type: 'array', maxItems: 64, uniqueItems: true,
      items: { type: 'string', pattern: '^(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(\\.(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3}$' },
    },
    services: { type: 'boolean' },
    shape: { type: 'string', enum: ['matrix', 'pingall', 'auto'], default: 'matrix' },
  },
} as const;

export function probeRoutes(app: FastifyInstance, ctl: Controller): void {
  app.post('/probe', {
    schema: { summary: 'Probe every pod to every pod per port and protocol with real packets (Cyclonus\' matrix, or pingall)', tags: ['probe'], body: probeBodySchema },
    config: { errors: [400] },
  }, (req) => ctl.mutate(async () => {
    try {
      return await probeBodyOn(ctl.cluster, (req.body ?? {}) as ProbeBody);
    } catch (e) {
      throw toControlError(e);
    }
  }));
}
