import { createHmac } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebPubSubGateway } from '../../lib/adapters/webPubSub';
import type { Config } from '../../lib/config';

const KEY = 'adapter-test-access-key-0123456789abcdef';

function verifyHs256(token: string, key: string): Record<string, unknown> {
  const [h, p, s] = token.split('.');
  const expected = createHmac('sha256', key).update(`${h}.${p}`).digest('base64url');
  expect(s).toBe(expected);
  return JSON.parse(Buffer.from(p!, 'base64url').toString('utf8')) as Record<string, unknown>;
}

describe('Web PubSub adapter (key handed to the SDK as a KeyObject)', () => {
  let server: http.Server;
  let port: number;
  const seen: Array<{ url: string; auth: string; body: string }> = [];

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        seen.push({ url: req.url ?? '', auth: String(req.headers.authorization ?? ''), body });
        res.writeHead(202).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const gateway = () =>
    new WebPubSubGateway({
      webPubSub: {
        connectionString: `Endpoint=http://127.0.0.1;Port=${port};AccessKey=${KEY};Version=1.0;`,
        hub: 'h1',
      },
    } as Config);

  test('a group send is signed with the access key for exactly its URL, on the port the string names', async () => {
    await gateway().publish('m1', []);
    const req = seen.pop()!;
    expect(req.url).toMatch(/^\/api\/hubs\/h1\/groups\/meeting\.m1\/:send\?api-version=/);
    const claims = verifyHs256(req.auth.replace(/^Bearer /, ''), KEY);
    expect(claims.aud).toBe(`http://127.0.0.1:${port}${req.url}`);
    expect(req.body).toBe('[]');
  });

  test('client URLs carry a token signed with the key, scoped to the meeting group, joinLeave only', async () => {
    const { url, group } = await gateway().clientAccess('m2', 'p1', Math.floor(Date.now() / 1000) + 3600);
    expect(group).toBe('meeting.m2');
    const token = new URL(url).searchParams.get('access_token')!;
    const claims = verifyHs256(token, KEY);
    expect(claims.sub).toBe('p1');
    expect(claims.role).toEqual(['webpubsub.joinLeaveGroup.meeting.m2']);
    expect(claims['webpubsub.group']).toEqual(['meeting.m2']);
    expect(url.startsWith(`ws://127.0.0.1:${port}/client/hubs/h1?`)).toBe(true);
  });

  test('a connection string without a key or endpoint is refused', () => {
    expect(
      () =>
        new WebPubSubGateway({ webPubSub: { connectionString: 'Endpoint=http://x;', hub: 'h' } } as Config),
    ).toThrow(/AccessKey/);
    expect(
      () => new WebPubSubGateway({ webPubSub: { connectionString: 'AccessKey=k;', hub: 'h' } } as Config),
    ).toThrow(/Endpoint/);
  });
});
