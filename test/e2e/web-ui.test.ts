/**
 * The web UI in a real browser (Debian's chromium through playwright-core), against the demo
 * cluster served by `podwire up` in this process: the diagram names every node, pod and
 * device; a journey picked in the page is POST /trace's and its steps are the CLI's text;
 * a capture started in the page downloads a file tshark reads; a dropped packet is marked
 * with its reason; flows appear in the table, from GET /flows?follow=true; a flow denied by a
 * NetworkPolicy, clicked, is traced and its verdict names the policy. One browser for
 * the file, a fresh page per test; nothing may be loaded from off 127.0.0.1.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startApi } from '../../src/api/server.js';
import { up, type Instance } from '../../src/api/up.js';
import { runDemo } from '../../src/control/demo.js';
import { renderTrace } from '../../src/kube/trace-text.js';
import { traceResultOf, type TraceAnswer } from '../../web/trace-lines.js';
import { launchBrowser, type TestBrowser } from './browser.js';
import { describeE2E } from './prereq.js';

const DEMO = join(import.meta.dirname, '../../examples/demo.yaml');

describeE2E('web UI in chromium', ['chromium', 'tshark'], () => {
  let inst: Instance;
  let tb: TestBrowser;
  let base: string;
  const dir = mkdtempSync(join(tmpdir(), 'podwire-webui-'));

  beforeAll(async () => {
    [inst, tb] = await Promise.all([
      up({ topology: DEMO, listen: { host: '127.0.0.1', port: 0 }, capturesDir: join(dir, 'captures') }),
      launchBrowser(),
    ]);
    base = inst.api.url.replace(/\/api\/v1$/, '/');
  });

  afterAll(async () => {
    await tb?.close();
    await inst?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const open = async (query = '?step=15') => {
    const p = await tb.page();
    await p.page.goto(`${base}${query}`);
    await p.page.locator('#diagram[data-ready="true"]').waitFor();
    return p;
  };

  it('draws every node and pod of the demo, with text labels for each device', async () => {
    const { page, context, offsite, errors } = await open();
    try {
      const topo = inst.controller.topology() as { nodes: { name: string }[]; pods: { key: string; ip: string; node: string }[] };
      for (const n of topo.nodes) {
        await expect(page.locator(`svg [data-id="node:${n.name}"] > text.label`).textContent()).resolves.toBe(n.name);
        for (const dev of ['cbr0', 'eth0', 'flannel.1']) {
          await expect(page.locator(`svg [data-id="${n.name}/${dev}"] text`).first().textContent()).resolves.toBe(dev);
        }
      }
      for (const p of topo.pods) {
        const g = page.locator(`svg [data-id="${p.key}"]`);
        await expect(g.locator('text').first().textContent()).resolves.toBe(p.key);
        await expect(page.locator(`svg [data-id="${p.key}/eth0"]`).getAttribute('aria-label')).resolves.toBe(`interface eth0 of ${p.key}, ${p.ip}`);
      }
      // A screen reader's view: the boxes are named groups.
      await expect(page.getByRole('group', { name: 'pod pod1, 10.244.1.2' }).count()).resolves.toBe(1);
      await expect(page.getByRole('group', { name: /^bridge cbr0/ }).count()).resolves.toBe(2);
      await expect(page.getByRole('group', { name: /^VXLAN device flannel\.1/ }).count()).resolves.toBe(2);
      await expect(page.locator('svg [data-id="underlay"] > text.label').textContent()).resolves.toBe('cluster network (underlay)');
      expect(offsite).toEqual([]);
      expect(errors.filter((e) => !/404|Failed to load resource/.test(e))).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('traces pod1 -> service1 and animates the journey with the CLI trace\'s steps', async () => {
    const { page, context } = await open();
    try {
      await page.locator('#trace-from').selectOption('pod1');
      await page.locator('#trace-to').selectOption('service1');
      const answer = page.waitForResponse((r) => r.url().endsWith('/api/v1/trace') && r.request().method() === 'POST');
      await page.getByRole('button', { name: 'Trace' }).click();
      const resp = await answer;
      const body = JSON.parse(resp.request().postData() ?? '{}') as { from: string; to: string; proto: 'tcp'; port: number };
      expect(body).toEqual({ from: 'pod1', to: 'service1', proto: 'tcp', port: 80 });
      const r = (await resp.json()) as TraceAnswer;
      // The animation walks the steps one by one: the first is current before the last is.
      await page.locator('#steps .step.current').first().waitFor();
      await page.locator('#steps[data-state="done"]').waitFor();
      const shown = await page.locator('#steps .line').allTextContents();
      // `podwire trace --api URL --from pod1 --to service1 --proto tcp` prints renderTrace of this answer.
      const cli = renderTrace(traceResultOf(body, r)).split('\n');
      expect(shown).toEqual(cli);
      expect(cli[0]).toBe('pod1 -> service1 (10.96.0.2), TCP port 80');
      // Every step is tied to a box of the diagram, and the journey's boxes are marked.
      const steps = page.locator('#steps .step');
      const n = await steps.count();
      expect(n).toBeGreaterThan(10);
      const ids = await steps.evaluateAll((els) => els.map((e) => e.getAttribute('data-elem')));
      expect(ids.every((id) => id !== null)).toBe(true);
      for (const id of ['pod1/eth0', 'node1/veth0', 'node1/cbr0', 'node1/proxy']) expect(ids).toContain(id);
      const endpoint = r.request.hops.find((h) => h.action === 'dnat')?.detail['pod'];
      expect(ids).toContain(`${String(endpoint)}/eth0`);
      if (endpoint === 'pod3') for (const id of ['node1/flannel.1', 'underlay', 'node2/eth0', 'node2/cbr0']) expect(ids).toContain(id);
      for (const id of new Set(ids)) await expect(page.locator(`svg [data-id="${id}"].visited`).count()).resolves.toBe(1);
    } finally {
      await context.close();
    }
  });

  it('marks where a packet was dropped, with the reason', async () => {
    const { page, context } = await open();
    try {
      await page.locator('#trace-from').selectOption('pod1');
      // An address no pod has: the form's "To" list holds pods and services, so add it as a browser user could type it.
      await page.evaluate("(() => { const to = document.getElementById('trace-to'); to.append(new Option('10.244.9.9', '10.244.9.9')); to.value = '10.244.9.9'; })()");
      await page.locator('#trace-proto').selectOption('icmp');
      await page.getByRole('button', { name: 'Trace' }).click();
      await page.locator('#steps[data-state="done"]').waitFor();
      await expect(page.locator('#steps .step.drop').textContent()).resolves.toContain('DROPPED at node1/root/cbr0: no-route');
      await expect(page.locator('svg [data-id="node1/cbr0"].dropped').count()).resolves.toBe(1);
      await expect(page.getByRole('note', { name: 'dropped here: no-route' }).count()).resolves.toBe(1);
      await expect(page.locator('svg .drop-mark text').textContent()).resolves.toBe('✕ no-route');
    } finally {
      await context.close();
    }
  });

  it('starts a capture on an interface and downloads a file tshark reads; counters update live', async () => {
    const { page, context } = await open();
    try {
      await page.locator('svg [data-id="node1/cbr0"]').click();
      await expect(page.locator('#sel-name').textContent()).resolves.toBe('node1/cbr0');
      // Its details from GET /inspect (repainted with the counters every second).
      await page.locator('#sel-counters td[data-counter="MAC"]', { hasText: '02:42:0a:f4:01:01' }).waitFor();
      await expect(page.locator('#sel-counters td[data-counter="addresses"]').textContent()).resolves.toBe('10.244.1.1/24');
      const before = Number(await page.locator('#sel-counters td[data-counter="rx packets"]').textContent());
      await page.getByRole('button', { name: 'Start capture' }).click();
      await page.locator('#capture-state[data-capture]').waitFor();
      // Traffic through cbr0 (the pods' gateway): pod1 pings pod3 on node2, from the page's own trace form.
      await page.locator('#trace-from').selectOption('pod1');
      await page.locator('#trace-to').selectOption('pod3');
      await page.locator('#trace-proto').selectOption('icmp');
      await page.getByRole('button', { name: 'Trace' }).click();
      await page.locator('#steps[data-state="done"]').waitFor();
      // The counters poll GET /stats every second: the rx count of cbr0 grows without a reload.
      // (Polled from here: waitForFunction compiles its predicate in the page, which the page's CSP refuses.)
      await expect.poll(async () => Number(await page.locator('#sel-counters td[data-counter="rx packets"]').textContent()), { timeout: 15_000, interval: 100 })
        .toBeGreaterThan(before);
      await expect(page.locator('svg [data-id="node1/cbr0"] .counters').textContent()).resolves.toMatch(/^rx [1-9]\d* tx \d+$/);
      const download = page.waitForEvent('download');
      await page.getByRole('button', { name: 'Stop and download' }).click();
      const d = await download;
      expect(d.suggestedFilename()).toMatch(/^podwire-.*-c\d+\.pcapng$/);
      const file = join(dir, d.suggestedFilename());
      await d.saveAs(file);
      const text = execFileSync('tshark', ['-r', file, '-n'], { encoding: 'utf8' });
      expect(text).toMatch(/10\.244\.1\.2 → 10\.244\.2\.2 +ICMP .*Echo \(ping\) request/);
      expect(text).toMatch(/10\.244\.2\.2 → 10\.244\.1\.2 +ICMP .*Echo \(ping\) reply/);
    } finally {
      await context.close();
    }
  });

  it('shows a node\'s rules as iptables-save prints them', async () => {
    const { page, context } = await open();
    try {
      await page.locator('#rules-node').selectOption('node2');
      await page.getByRole('button', { name: 'Show' }).click();
      await page.locator('#rules-text', { hasText: 'KUBE-SERVICES' }).waitFor();
      const text = await page.locator('#rules-text').textContent();
      expect(text).toBe(inst.controller.rules('node2', { table: 'nat' }));
    } finally {
      await context.close();
    }
  });

  it('podwire demo --html: one self-contained page with the diagram and the three journeys animated', async () => {
    const file = join(dir, 'demo.html');
    const r = await runDemo({ write: false, html: file });
    expect(r.html).toBe(file);
    const { page, context, offsite, errors } = await tb.page();
    const requests: string[] = [];
    page.on('request', (q) => requests.push(q.url()));
    try {
      await page.goto(`file://${file}?step=5`);
      await page.locator('#diagram[data-ready="true"]').waitFor();
      for (const id of ['node:node1', 'node:node2', 'pod1', 'pod2', 'pod3', 'node1/cbr0', 'node2/flannel.1']) {
        await expect(page.locator(`svg [data-id="${id}"]`).count()).resolves.toBe(1);
      }
      await expect(page.locator('#trace-form').isHidden()).resolves.toBe(true);
      const buttons = page.locator('#journeys button');
      await expect(buttons.allTextContents()).resolves.toEqual(['1. pod to pod on one node', '2. pod to pod across nodes', '3. pod to service']);
      for (const [i, j] of r.journeys.entries()) {
        await buttons.nth(i).click();
        await page.locator('#steps[data-state="done"]').waitFor();
        await expect(page.locator('#steps .line').allTextContents()).resolves.toEqual(renderTrace(j.result).split('\n'));
      }
      expect(requests).toEqual([`file://${file}?step=5`]);
      expect(offsite).toEqual([]);
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('lists flows the test makes in the flows table, a dropped one with its reason (GET /flows)', async () => {
    const { page, context } = await open();
    try {
      await page.locator('#flows-panel[data-following="true"]').waitFor();
      await inst.controller.trace({ from: 'pod1', to: 'pod3', proto: 'udp', port: 9000 } as never);
      await inst.controller.trace({ from: 'pod1', to: '10.244.9.9', proto: 'icmp' } as never);
      // The request direction: pod1 -> pod3, port 9000, UDP, forwarded.
      const ok = page.locator('#flows tbody tr')
        .filter({ has: page.locator('td:nth-child(1)', { hasText: /^pod1 / }) })
        .filter({ has: page.locator('td:nth-child(2)', { hasText: /^pod3 / }) })
        .filter({ has: page.locator('td:nth-child(3)', { hasText: /^9000$/ }) }).first();
      await ok.waitFor();
      await expect(ok.locator('td').nth(3).textContent()).resolves.toBe('UDP');
      await expect(ok.locator('td.verdict').textContent()).resolves.toBe('forwarded');
      const dropped = page.locator('#flows tbody tr.verdict-dropped', { hasText: '10.244.9.9' }).first();
      await dropped.waitFor();
      await expect(dropped.locator('td').nth(5).textContent()).resolves.toContain('no-route');
      // The verdict filter keeps only dropped flows.
      await page.locator('#flow-verdict').selectOption('dropped');
      await expect(page.locator('#flows tbody tr:not(.verdict-dropped)').count()).resolves.toBe(0);
    } finally {
      await context.close();
    }
  });

  it('shows the NetworkPolicy verdict of a flow: a click on a denied flow traces it and names the policy', async () => {
    await inst.controller.applyNetworkPolicies({
      apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'web-deny', namespace: 'default' },
      spec: { podSelector: { matchLabels: { app: 'web' } }, policyTypes: ['Ingress'] },
    });
    const { page, context } = await open();
    try {
      await page.locator('#flows-panel[data-following="true"]').waitFor();
      await inst.controller.trace({ from: 'pod1', to: 'pod2', proto: 'tcp', port: 8080 } as never);
      const row = page.locator('#flows tbody tr.verdict-dropped')
        .filter({ has: page.locator('td:nth-child(2)', { hasText: /^pod2 / }) })
        .filter({ has: page.locator('td:nth-child(6)', { hasText: 'policy-denied' }) }).first();
      await row.waitFor();
      await row.click();
      await page.locator('#policy-verdict.denied').waitFor();
      await expect(page.locator('#policy-verdict').textContent()).resolves
        .toBe('NetworkPolicy: denied on node1: egress of default/pod1 not isolated; ingress of default/pod2 isolated by default/web-deny; denied: no rule allows TCP/8080 from default/pod1');
      await page.locator('#steps[data-state="done"]').waitFor();
      await expect(page.locator('#steps .step', { hasText: 'NetworkPolicy on node1 refuses the new connection' }).getAttribute('data-elem')).resolves.toBe('node1/proxy');
      await expect(page.locator('#steps .step.drop').textContent()).resolves.toContain('policy-denied');
      await expect(page.locator('svg .drop-mark text').textContent()).resolves.toBe('✕ policy-denied');
    } finally {
      await context.close();
      await inst.controller.deleteNetworkPolicy('default', 'web-deny');
    }
  });

  it('with a token: the page asks for it, then every API call carries it (the flow stream too)', async () => {
    const api = await startApi(inst.controller, { host: '127.0.0.1', port: 0 }, { token: 'webui-token-1' });
    const { page, context } = await tb.page();
    const auth: string[] = [];
    page.on('request', (q) => { if (q.url().includes('/api/v1/')) auth.push(`${new URL(q.url()).pathname} ${q.headers()['authorization'] ?? '-'}`); });
    try {
      await page.goto(api.url.replace(/\/api\/v1$/, '/?step=5'));
      await page.locator('#token-form').waitFor();
      await expect(page.locator('#status').textContent()).resolves.toBe('this podwire needs a token');
      await page.locator('#token').fill('webui-token-1');
      await page.getByRole('button', { name: 'Connect' }).click();
      await page.locator('#diagram[data-ready="true"]').waitFor();
      await page.locator('#flows-panel[data-following="true"]').waitFor();
      await expect(page.locator('svg [data-id="pod3"]').count()).resolves.toBe(1);
      expect(auth[0]).toBe('/api/v1/topology -');
      expect(auth.slice(1).every((a) => a.endsWith(' Bearer webui-token-1'))).toBe(true);
      expect(auth.some((a) => a.startsWith('/api/v1/flows '))).toBe(true);
    } finally {
      await context.close();
      await api.close();
    }
  });
});
