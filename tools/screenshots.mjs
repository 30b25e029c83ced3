#!/usr/bin/env node
/**
 * Takes the web UI's screenshots in docs/ with Debian's chromium (playwright-core): the
 * demo cluster (docs/web-ui-demo.png) with pod1 -> service1 traced, and a 20-node cluster
 * (docs/web-ui-20-nodes.png) with a journey across it. Needs `npm run build` first.
 *
 *   node tools/screenshots.mjs [OUT_DIR]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const OUT = process.argv[2] ?? join(ROOT, 'docs');
const { up } = await import(join(ROOT, 'dist/api/up.js'));

function bigTopology(n) {
  const nodes = Array.from({ length: n }, (_, i) => `  - name: node${i + 1}`).join('\n');
  const pods = ['  - { name: pod1, node: node1 }',
    ...Array.from({ length: n }, (_, i) => `  - { name: web-${i + 1}, node: node${i + 1}, labels: { app: web }, apps: [{ type: http, port: 8080 }] }`),
    ...Array.from({ length: n }, (_, i) => (i % 3 === 0 ? `  - { name: db-${i + 1}, node: node${i + 1}, labels: { app: db }, apps: [{ type: tcp-echo, port: 5432 }] }` : null)).filter((x) => x !== null),
  ].join('\n');
  return `cluster: { name: twenty, seed: 3 }\nnodes:\n${nodes}\npods:\n${pods}\nservices:\n  - { name: service1, selector: { app: web }, ports: [{ port: 80, targetPort: 8080 }] }\n`;
}

const browser = await chromium.launch({
  executablePath: process.env.PODWIRE_CHROMIUM ?? '/usr/bin/chromium', headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const dir = mkdtempSync(join(tmpdir(), 'podwire-shots-'));

async function shoot(topology, file, viewport, journey, extra) {
  const inst = await up({ topology, listen: { host: '127.0.0.1', port: 0 }, capturesDir: join(dir, 'captures') });
  try {
    if (extra !== undefined) await extra(inst);
    const page = await browser.newPage({ viewport, deviceScaleFactor: 1 });
    await page.goto(inst.api.url.replace(/\/api\/v1$/, '/?step=1'));
    await page.locator('#diagram[data-ready="true"]').waitFor();
    await page.locator('#trace-from').selectOption(journey.from);
    await page.locator('#trace-to').selectOption(journey.to);
    // kube-proxy picks the endpoint at random: trace again (a few times at most) until it is
    // the one the picture should show, as the article's third journey crosses to node2.
    for (let i = 0; i < 12; i++) {
      await page.locator('#trace-go').click();
      await page.locator('#steps[data-state="running"]').waitFor();
      await page.locator('#steps[data-state="done"]').waitFor();
      if (journey.via === undefined || (await page.locator('#steps').textContent()).includes(`(${journey.via})`)) break;
    }
    if (journey.select !== undefined) await page.locator(`svg [data-id="${journey.select}"]`).click();
    await page.waitForTimeout(1200); // one round of the 1 s counters poll, so the boxes show them
    await page.screenshot({ path: file, fullPage: true });
    await page.close();
    process.stdout.write(`wrote ${file}\n`);
  } finally {
    await inst.close();
  }
}

try {
  const traffic = async (inst) => {
    for (const t of [{ from: 'pod1', to: 'pod3', proto: 'udp', port: 9000 }, { from: 'pod1', to: 'pod2', proto: 'tcp', port: 8080 }, { from: 'pod1', to: '10.244.9.9', proto: 'icmp' }]) await inst.controller.trace(t);
  };
  await shoot(join(ROOT, 'examples/demo.yaml'), join(OUT, 'web-ui-demo.png'), { width: 1500, height: 900 }, { from: 'pod1', to: 'service1', via: 'pod3', select: 'node1/flannel.1' }, traffic);
  const topo = join(dir, 'twenty.yaml');
  writeFileSync(topo, bigTopology(20));
  await shoot(topo, join(OUT, 'web-ui-20-nodes.png'), { width: 2400, height: 1400 }, { from: 'pod1', to: 'service1' });
} finally {
  await browser.close();
  rmSync(dir, { recursive: true, force: true });
}
