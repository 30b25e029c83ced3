/**
 * Headless Chromium for the web UI's tests: Debian's `chromium` (tools/setup-system.sh)
 * driven by playwright-core (`npx playwright install` cannot download here). One browser per
 * test file; each test takes a fresh page. The flags keep Chromium from reaching out
 * (background networking, component updates, QUIC) and from needing a GPU or a sandbox
 * (tests run as root); playwright gives each launch a fresh profile of its own.
 */
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = process.env['PODWIRE_CHROMIUM'] ?? '/usr/bin/chromium';

export interface TestBrowser {
  browser: Browser;
  /** A new page in a new context (downloads accepted), with every request off 127.0.0.1 refused and recorded. */
  page(opts?: { viewport?: { width: number; height: number } }): Promise<{ page: Page; context: BrowserContext; offsite: string[]; errors: string[] }>;
  close(): Promise<void>;
}

export async function launchBrowser(): Promise<TestBrowser> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage',
    ],
  });
  return {
    browser,
    async page(opts = {}) {
      const context = await browser.newContext({ acceptDownloads: true, viewport: opts.viewport ?? { width: 1600, height: 1000 } });
      const page = await context.newPage();
      const offsite: string[] = [];
      const errors: string[] = [];
      await page.route('**/*', (route) => {
        const u = new URL(route.request().url());
        if (u.protocol === 'file:' || u.protocol === 'blob:' || u.protocol === 'data:' || u.hostname === '127.0.0.1') return route.continue();
        offsite.push(u.href);
        return route.abort();
      });
      page.on('pageerror', (e) => errors.push(e.message));
      page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
      return { page, context, offsite, errors };
    },
    async close() {
      await browser.close();
    },
  };
}
