/**
 * Real-browser support: Debian's Chromium driven by playwright-core (the browser downloads of
 * `npx playwright install` are not reachable here; `.ci/run` installs the `chromium` package).
 * Every page records its console errors and uncaught exceptions, so a test can require none.
 */
import * as fs from 'node:fs';
import {
  chromium,
  type Browser,
  type BrowserContext,
  type Locator,
  type Page,
  type WebSocketRoute,
} from 'playwright-core';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export async function launchBrowser(): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `No Chromium at ${CHROMIUM_PATH}: install it (apt-get install -y chromium) or set CHROMIUM_PATH.`,
    );
  }
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}

export interface TestPage {
  context: BrowserContext;
  page: Page;
  /** Console errors and page errors seen so far. */
  errors: string[];
  /**
   * The page's network. `down()` cuts it as a dropped Wi-Fi would: HTTP requests fail and open
   * WebSockets end (Chromium's offline mode alone leaves open sockets running), and new ones fail
   * until `up()`.
   */
  network: { down(): Promise<void>; up(): Promise<void> };
}

export async function openPage(
  browser: Browser,
  opts: { viewport?: { width: number; height: number }; initScript?: () => void } = {},
): Promise<TestPage> {
  const context = await browser.newContext({ viewport: opts.viewport ?? { width: 1280, height: 900 } });
  if (opts.initScript) await context.addInitScript(opts.initScript);
  // Every WebSocket goes through a route, so the test can cut it like a network failure would.
  let online = true;
  const sockets = new Set<WebSocketRoute>();
  await context.routeWebSocket(/.*/, (ws) => {
    if (!online) return ws.close({ code: 1011, reason: 'network down' });
    ws.connectToServer();
    sockets.add(ws);
    ws.onClose(() => sockets.delete(ws));
  });
  const network = {
    async down() {
      online = false;
      await context.setOffline(true);
      await Promise.all([...sockets].map((ws) => ws.close({ code: 1011, reason: 'network down' })));
    },
    async up() {
      online = true;
      await context.setOffline(false);
    },
  };
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  page.on('dialog', (d) => {
    errors.push(`dialog: ${d.message()}`);
    void d.dismiss();
  });
  return { context, page, errors, network };
}

/** The room model's envelope trail (`seq kind/type`), the page's own record of what it delivered. */
export function trailOf(page: Page): Promise<string[]> {
  return page.evaluate(() => window.meetstreamRoom?.trail.slice() ?? []);
}

export function seqOf(page: Page): Promise<number> {
  return page.evaluate(() => window.meetstreamRoom?.seq ?? -1);
}

/** Waits until the page's connection badge reads `status` (e.g. `live`, `live · sse`). */
export async function waitForConnection(page: Page, status: string, timeout = 20_000): Promise<void> {
  await page.waitForFunction(
    (want) => document.querySelector('[data-testid=connection]')?.textContent?.includes(want) ?? false,
    status,
    { timeout },
  );
}

/** Retries `check` (a set of jest expectations) until it passes or `timeout` ms have gone by. */
export async function eventually(check: () => Promise<void> | void, timeout = 10_000): Promise<void> {
  const deadline = Date.now() + timeout;
  for (;;) {
    try {
      await check();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/** Eventually the element's text contains `want` (or matches it). */
export function seeText(locator: Locator, want: string | RegExp, timeout?: number): Promise<void> {
  return eventually(async () => {
    const text = (await locator.count()) > 0 ? await locator.first().innerText() : '';
    if (typeof want === 'string') expect(text).toContain(want);
    else expect(text).toMatch(want);
  }, timeout);
}

/** Eventually exactly `n` elements match. */
export function seeCount(locator: Locator, n: number, timeout?: number): Promise<void> {
  return eventually(async () => expect(await locator.count()).toBe(n), timeout);
}

/** Eventually the matching elements' texts are `want`, in order (strings exact, patterns matched). */
export function seeTexts(locator: Locator, want: Array<string | RegExp>, timeout?: number): Promise<void> {
  return eventually(async () => {
    const texts = await locator.allInnerTexts();
    expect(texts).toHaveLength(want.length);
    want.forEach((w, i) => {
      if (typeof w === 'string') expect(texts[i]?.trim()).toBe(w);
      else expect(texts[i]).toMatch(w);
    });
  }, timeout);
}
