/**
 * The web app in a real browser (Chromium), against the embedded stack on ephemeral ports: pages
 * talk to the API and the hub exactly as a customer's app does, through the typed client.
 */
import AxeBuilder from '@axe-core/playwright';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import {
  eventually,
  launchBrowser,
  openPage,
  seeCount,
  seeText,
  seeTexts,
  seqOf,
  trailOf,
  waitForConnection,
  type TestPage,
} from '../support/browser';
import { api, createMeeting, join, sleep, startTestStack, storedLog, type TestStack } from '../support/stack';

/** `npm run screenshots` sets this: the pages of the first test are saved there for the README. */
const SCREENSHOTS = process.env.SCREENSHOTS_DIR;

let stack: TestStack;
let browser: Browser;
let origin: string;
const pages: TestPage[] = [];

beforeAll(async () => {
  stack = await startTestStack({ PRESENCE_GRACE_MS: '2000' });
  origin = stack.apiUrl.replace(/\/api$/, '');
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await stack?.cleanup();
});

async function page(opts?: Parameters<typeof openPage>[1]): Promise<TestPage> {
  const p = await openPage(browser, opts);
  pages.push(p);
  return p;
}

/** Creates a meeting in the lobby; resolves with its id and the join link the host is shown. */
async function hostCreates(p: Page, title: string): Promise<{ meetingId: string; link: string }> {
  await p.goto(`${origin}/`);
  await p.getByLabel('Meeting title').fill(title);
  await p.getByRole('button', { name: 'Create meeting' }).click();
  await waitForConnection(p, 'live');
  const link = await p.getByTestId('join-link').inputValue();
  const meetingId = decodeURIComponent(new URL(link).hash.split('/')[2] ?? '');
  return { meetingId, link };
}

async function joins(p: Page, link: string, name: string, suffix = ''): Promise<void> {
  await p.goto(link);
  await p.getByLabel('Your name').fill(name);
  await p.getByRole('button', { name: 'Join' }).click();
  if (suffix) {
    // In the room now; a fragment change alone does not reload it: reload to start with the option.
    await p.getByTestId('connection').waitFor();
    await p.goto(`${p.url()}${suffix}`);
    await p.reload();
  }
  await waitForConnection(p, 'live');
}

async function chat(p: Page, text: string): Promise<void> {
  await p.getByLabel('Message').fill(text);
  await p.getByRole('button', { name: 'Send' }).click();
}

/** Waits until every page has folded the same last seq, and returns it. */
async function settle(list: Page[], timeout = 15_000): Promise<number> {
  const deadline = Date.now() + timeout;
  for (;;) {
    const seqs = await Promise.all(list.map(seqOf));
    if (seqs.every((s) => s === seqs[0]) && (seqs[0] ?? 0) > 0) {
      await sleep(300);
      const again = await Promise.all(list.map(seqOf));
      if (again.every((s) => s === seqs[0])) return seqs[0]!;
    }
    if (Date.now() > deadline) throw new Error(`pages did not settle: seqs ${seqs.join(', ')}`);
    await sleep(100);
  }
}

async function shot(p: Page, name: string): Promise<void> {
  if (!SCREENSHOTS) return;
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  await p.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

test('a host and two participants share chat, reactions, hands and a poll live; the meeting beside them sees none of it; only the host has controls', async () => {
  const host = await page();
  if (SCREENSHOTS) {
    await host.page.goto(`${origin}/`);
    await host.page.getByLabel('Meeting title').fill('Design review');
    await shot(host.page, 'lobby');
  }
  const { meetingId, link } = await hostCreates(host.page, 'Design review');
  const ada = await page();
  const bob = await page({ viewport: { width: 390, height: 844 } }); // a phone-sized screen
  await joins(ada.page, link, 'Ada');
  await joins(bob.page, link, 'Bob');
  const other = await page();
  await hostCreates(other.page, 'Another meeting');

  // Attendees have no host controls and no poll form.
  for (const p of [ada.page, bob.page]) {
    await seeCount(p.getByTestId('host-controls'), 0);
    await seeCount(p.getByRole('button', { name: /^Remove / }), 0);
    await seeCount(p.getByRole('button', { name: 'Open poll' }), 0);
  }

  // Chat reaches every page of the meeting, with the sender's name.
  await chat(ada.page, 'Hello from Ada');
  for (const p of [host.page, ada.page, bob.page]) {
    await p.getByTestId('chat').getByText('Hello from Ada').waitFor();
  }
  await seeText(host.page.getByTestId('chat').locator('li').first(), 'Ada');

  // Reactions float and are counted in the analytics panel.
  await bob.page.getByRole('button', { name: 'React 👏' }).click();
  await seeTexts(host.page.getByTestId('reactions-total'), ['1']);
  await seeText(host.page.getByTestId('reaction-bars'), '👏');

  // Hands: FIFO queue on every page; the host lowers Ada's hand.
  await ada.page.getByRole('button', { name: /Raise hand/ }).click();
  // Ada's own page shows her hand up before Bob raises his: the queue order is then certain.
  await ada.page.getByRole('button', { name: 'Lower my hand' }).waitFor();
  await bob.page.getByRole('button', { name: /Raise hand/ }).click();
  await seeTexts(host.page.getByTestId('hands').locator('li'), [/Ada/, /Bob/]);
  await host.page.getByRole('button', { name: "Lower Ada's hand" }).click();
  await seeTexts(ada.page.getByTestId('hands').locator('li'), [/Bob/]);
  await ada.page.getByRole('button', { name: /Raise hand/ }).waitFor();

  // Speaking and captions feed talk time and keywords.
  await ada.page.getByRole('button', { name: /I'm speaking/ }).click();
  await seeText(host.page.getByTestId('speaker'), 'Ada');
  await ada.page.getByLabel('Caption').fill('budget review budget timeline');
  await ada.page.getByRole('button', { name: 'Caption', exact: true }).click();
  await seeText(bob.page.getByTestId('captions'), 'budget review');
  await seeText(host.page.getByTestId('keywords'), 'budget');
  await sleep(1200);
  await ada.page.getByRole('button', { name: 'Stop speaking' }).click();
  await seeText(host.page.getByTestId('talk-bars'), 'Ada');
  await eventually(async () =>
    expect(await host.page.getByTestId('chat-rate').innerText()).not.toBe('0/min'),
  );

  // A poll: the host opens it, both attendees vote, everyone sees the tallies, the host closes it.
  await host.page.getByLabel('Question').fill('Ship on Friday?');
  await host.page.getByLabel(/Options/).fill('Yes\nNo\nNext week');
  await host.page.getByRole('button', { name: 'Open poll' }).click();
  await seeText(ada.page.getByTestId('polls'), 'Ship on Friday?');
  await ada.page.getByTestId('polls').getByRole('button', { name: 'Vote' }).nth(2).click();
  await bob.page.getByTestId('polls').getByRole('button', { name: 'Vote' }).nth(2).click();
  await seeTexts(host.page.getByTestId('tally'), ['0', '0', '2']);
  await shot(host.page, 'room');
  await host.page.getByRole('button', { name: 'Close poll' }).click();
  await seeText(bob.page.getByTestId('polls'), 'closed');

  // Host controls: promote Bob (he may now open polls), rotate the code, remove Ada.
  await host.page.getByRole('button', { name: 'Make presenter' }).last().click();
  await bob.page.getByRole('button', { name: 'Open poll' }).waitFor();
  await host.page.getByRole('button', { name: 'New join code' }).click();
  await eventually(async () => expect(await host.page.getByTestId('join-link').inputValue()).not.toBe(link));
  const stale = await page();
  await stale.page.goto(link);
  await stale.page.getByLabel('Your name').fill('Late');
  await stale.page.getByRole('button', { name: 'Join' }).click();
  await stale.page.getByRole('alert').waitFor();
  stale.errors.length = 0; // the refused join is the expected console error
  await host.page.getByRole('button', { name: 'Remove Ada' }).click();
  await seeText(host.page.getByTestId('roster'), /Ada\s*attendee\s*left/);
  await seeText(ada.page.getByRole('alert'), /401|revoked/);
  ada.errors.length = 0; // a removed participant's refused requests are expected

  // The other meeting saw nothing of this one.
  const otherTrail = await trailOf(other.page);
  expect(otherTrail.some((t) => t.includes('chat.message') || t.includes('poll'))).toBe(false);
  await seeCount(other.page.getByTestId('chat').locator('li'), 0);

  // Ending the meeting reaches everyone; the summary shows what happened.
  await host.page.getByRole('button', { name: 'End meeting' }).click();
  await bob.page.locator('.status-ended').waitFor();
  await host.page.getByRole('link', { name: 'Summary' }).click();
  await seeTexts(host.page.getByTestId('summary-chat'), ['1']);
  await host.page.getByRole('img', { name: 'Poll results' }).waitFor();
  await shot(host.page, 'summary');

  // The log the pages showed is the meeting's log.
  const log = await storedLog(stack, meetingId);
  expect(await seqOf(bob.page)).toBe(log.length);
  expect(await trailOf(bob.page)).toEqual(log.map((e) => `${e.seq} ${e.kind}/${e.type}`));
  for (const p of [host, ada, bob, other, stale]) expect(p.errors).toEqual([]);
});

test('a page that goes offline while others post comes back with exactly the sequence of a page that never dropped', async () => {
  const host = await page();
  const { link } = await hostCreates(host.page, 'Offline check');
  const steady = await page();
  const flaky = await page();
  await joins(steady.page, link, 'Steady');
  await joins(flaky.page, link, 'Flaky');

  await flaky.network.down();
  await waitForConnection(flaky.page, 'reconnecting');
  for (let i = 0; i < 6; i++) await chat(host.page, `while you were away ${i}`);
  await steady.page.getByRole('button', { name: 'React 🎉' }).click();
  await seeCount(steady.page.getByTestId('chat').locator('li'), 6);
  await flaky.network.up();

  await waitForConnection(flaky.page, 'live', 30_000);
  await settle([host.page, steady.page, flaky.page], 30_000);
  expect(await trailOf(flaky.page)).toEqual(await trailOf(steady.page));
  await seeCount(flaky.page.getByTestId('chat').locator('li'), 6);
  // Requests refused while offline are expected console errors; nothing else is.
  expect(flaky.errors.filter((e) => !/ERR_INTERNET_DISCONNECTED|Failed to load resource/.test(e))).toEqual(
    [],
  );
  expect(steady.errors).toEqual([]);
});

test('with WebSocket unavailable the page falls back to SSE and still delivers everything in order', async () => {
  const host = await page();
  const { link } = await hostCreates(host.page, 'Fallback check');
  const noWs = await page({
    initScript: () => {
      // A network or proxy that refuses WebSocket: the constructor is gone.
      Object.defineProperty(window, 'WebSocket', { value: undefined });
    },
  });
  await joins(noWs.page, link, 'Behind a proxy');
  await waitForConnection(noWs.page, 'live · sse');
  const poller = await page();
  await joins(poller.page, link, 'Long poller', '?transport=long-poll');
  await waitForConnection(poller.page, 'live · long-poll');

  for (let i = 0; i < 5; i++) await chat(host.page, `over SSE ${i}`);
  await host.page.getByRole('button', { name: 'React 🔥' }).click();
  await seeCount(noWs.page.getByTestId('chat').locator('li'), 5);
  await settle([host.page, noWs.page, poller.page]);
  const reference = await trailOf(host.page);
  expect(await trailOf(noWs.page)).toEqual(reference);
  expect(await trailOf(poller.page)).toEqual(reference);
  expect(noWs.errors).toEqual([]);
});

test('chat text with markup and script is shown as text and never runs', async () => {
  const host = await page();
  const { link } = await hostCreates(host.page, 'Hostile text');
  const guest = await page();
  await joins(guest.page, link, '<b>Mallory</b>');
  const hostile = `<script>window.__xss = 1</script><img src=x onerror="window.__xss = 2"> **bold** &amp;`;
  await chat(guest.page, hostile);
  const line = host.page.getByTestId('chat').locator('li .text');
  await seeTexts(line, [hostile]);
  await seeCount(host.page.getByTestId('chat').locator('script, img, b'), 0);
  await seeText(host.page.getByTestId('roster'), '<b>Mallory</b>');
  expect(await host.page.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();
  expect(host.errors).toEqual([]);
});

test('the lobby and a room mid-meeting have no serious accessibility violations', async () => {
  const visitor = await page();
  await visitor.page.goto(`${origin}/`);
  const serious = async (p: Page) =>
    (await new AxeBuilder({ page: p }).analyze()).violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join('; ')})`);
  expect(await serious(visitor.page)).toEqual([]);

  const host = await page();
  const { link } = await hostCreates(host.page, 'Accessible');
  const guest = await page();
  await joins(guest.page, link, 'Grace');
  await chat(guest.page, 'Can everyone hear me?');
  await guest.page.getByRole('button', { name: /Raise hand/ }).click();
  await seeCount(host.page.getByTestId('hands').locator('li'), 1);
  expect(await serious(host.page)).toEqual([]);
  expect(await serious(guest.page)).toEqual([]);

  // Keyboard only: the chat box is reachable by Tab and Enter sends.
  await guest.page.getByLabel('Message').focus();
  await guest.page.keyboard.type('typed without a mouse');
  await guest.page.keyboard.press('Enter');
  await seeText(host.page.getByTestId('chat'), 'typed without a mouse');
});

test('a page keeps up with a busy meeting: hundreds of envelopes a second are all folded, in order', async () => {
  const meeting = await createMeeting(stack, 'Busy');
  const posters = await Promise.all(Array.from({ length: 5 }, (_, i) => join(stack, meeting, `Poster ${i}`)));
  const watcher = await page();
  await joins(watcher.page, `${origin}/#/join/${meeting.meetingId}/${meeting.joinCode}`, 'Watcher');

  // 5 participants × 60 chat messages in batches of 10 every 200 ms: 300 events in ~1.2 s.
  const started = Date.now();
  await Promise.all(
    posters.map(async (poster, p) => {
      for (let b = 0; b < 6; b++) {
        const events = Array.from({ length: 10 }, (_, i) => ({
          type: 'chat.message',
          data: { text: `p${p} b${b} m${i}` },
        }));
        const res = await api(stack, 'POST', `/meetings/${meeting.meetingId}/events`, {
          token: poster.token,
          body: { events },
        });
        expect(res.status).toBe(202);
        await sleep(200);
      }
    }),
  );
  const posted = Date.now();
  let log = await storedLog(stack, meeting.meetingId);
  for (let i = 0; i < 100 && log.filter((e) => e.type === 'chat.message').length < 300; i++) {
    await sleep(100);
    log = await storedLog(stack, meeting.meetingId);
  }
  await watcher.page.waitForFunction((end) => (window.meetstreamRoom?.seq ?? 0) >= end, log.length, {
    timeout: 20_000,
  });
  const caughtUp = Date.now();
  const trail = await trailOf(watcher.page);
  expect(trail).toEqual(log.map((e) => `${e.seq} ${e.kind}/${e.type}`));
  console.log(
    `web app under load: ${log.length} envelopes (${300} chat events posted in ${posted - started} ms); ` +
      `page at the log end ${caughtUp - posted} ms after the last post`,
  );
  expect(watcher.errors).toEqual([]);
});
