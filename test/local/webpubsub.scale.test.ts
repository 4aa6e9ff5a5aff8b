/** Capacity: many SDK clients at once, and the standalone process the local stack launches. */
import { spawn } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { WebPubSubServiceClient } from '@azure/web-pubsub';
import { WebPubSubClient, WebPubSubJsonReliableProtocol } from '@azure/web-pubsub-client';
import { startEmbeddedWebPubSub } from '../../local/webpubsub/server';

const KEY = 'scale-test-access-key-0123456789abcdefghijk';
const HUB = 'meetstream';

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function waitFor(condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(10);
  }
}

test('1,000 clients connect and one group send reaches every one of them', async () => {
  const svc = await startEmbeddedWebPubSub({ accessKey: KEY });
  const service = new WebPubSubServiceClient(svc.connectionString, HUB, { allowInsecureConnection: true });
  const clients: WebPubSubClient[] = [];
  const stopped = new Set<WebPubSubClient>();
  let received = 0;
  try {
    const { url } = await service.getClientAccessToken({ groups: ['everyone'] });
    const started = Date.now();
    // Batches keep the connect burst under the listen backlog, as a real client fleet would be.
    for (let batch = 0; batch < 10; batch++) {
      const starting: Array<Promise<void>> = [];
      for (let i = 0; i < 100; i++) {
        const client = new WebPubSubClient(url, {
          protocol: WebPubSubJsonReliableProtocol(),
          keepAliveIntervalInMs: 0,
          keepAliveTimeoutInMs: 0,
        });
        client.on('group-message', (e) => {
          if ((e.message.data as { n?: number }).n === 1) received++;
        });
        client.on('stopped', () => stopped.add(client));
        clients.push(client);
        starting.push(client.start());
      }
      await Promise.all(starting);
    }
    const connectMs = Date.now() - started;
    expect(svc.stats()).toEqual({ connections: 1000, groups: 1 });

    const sent = Date.now();
    await service.group('everyone').sendToAll({ n: 1 });
    await waitFor(() => received === 1000);
    console.log(
      `1,000 SDK clients connected in ${connectMs} ms; one group send reached all in ${Date.now() - sent} ms`,
    );
  } finally {
    for (const c of clients) c.stop();
    await waitFor(() => stopped.size === clients.length);
    await svc.close();
    // The SDK's sequence-ack loop sleeps 1 s between rounds, even after stop().
    await sleep(1100);
  }
});

test('the CLI prints one ready line, serves the SDK, and exits 0 on SIGTERM', async () => {
  const main = path.join(__dirname, '../../local/webpubsub/main.js');
  const child = spawn(process.execPath, [main], {
    env: {
      ...process.env,
      WEBPUBSUB_PORT: '0',
      WEBPUBSUB_ACCESS_KEY: KEY,
      WEBPUBSUB_EVENT_HANDLER: `${HUB}=http://127.0.0.1:9/api/webpubsub/events`,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const lines = readline.createInterface({ input: child.stdout });
  const first = await new Promise<string>((resolve) => lines.once('line', resolve));
  const ready = JSON.parse(first) as { service: string; ready: boolean; endpoint: string; port: number };
  expect(ready).toEqual({
    service: 'webpubsub',
    ready: true,
    endpoint: `http://127.0.0.1:${ready.port}`,
    port: expect.any(Number),
  });

  const service = new WebPubSubServiceClient(
    `Endpoint=${ready.endpoint};AccessKey=${KEY};Version=1.0;`,
    HUB,
    {
      allowInsecureConnection: true,
    },
  );
  await service.sendToAll({ hello: 'nobody' });
  expect(await service.groupExists('none')).toBe(false);

  child.kill('SIGTERM');
  expect(await exited).toBe(0);
  lines.close();
});
