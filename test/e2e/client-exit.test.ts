/**
 * A Node app that stops its typed client must be able to exit: nothing the client started may
 * keep the process alive after stop() (the Web PubSub client's keep-alive rounds used to, for up
 * to 40 s).
 */
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { createMeeting, startTestStack, type TestStack } from '../support/stack';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack?.cleanup();
});

const CLIENT = path.join(__dirname, '..', '..', 'client', 'index.js');

/** Runs a child that starts a client, waits until live, stops it; resolves with ms from stop to exit. */
function exitAfterStop(transport: string, meetingId: string, token: string): Promise<number> {
  const script = `
    const { MeetstreamClient } = require(${JSON.stringify(CLIENT)});
    const c = new MeetstreamClient({ baseUrl: process.env.API, meetingId: process.env.MEETING,
      token: process.env.TOKEN, transport: process.env.TRANSPORT });
    c.start().then(() => new Promise((r) => setTimeout(r, 300))).then(() => c.stop())
      .then(() => console.log('stopped'), (e) => { console.error(e); process.exit(2); });`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script], {
      env: { ...process.env, API: stack.apiUrl, MEETING: meetingId, TOKEN: token, TRANSPORT: transport },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let stoppedAt = 0;
    child.stdout.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('stopped')) stoppedAt = Date.now();
    });
    // Bounded: a child that does not exit is killed and the test fails with what it measured.
    const guard = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('exit', (code) => {
      clearTimeout(guard);
      if (code !== 0 || !stoppedAt)
        return reject(new Error(`child exited with ${code} (stopped: ${!!stoppedAt})`));
      resolve(Date.now() - stoppedAt);
    });
  });
}

test.each(['websocket', 'sse', 'long-poll'])(
  'a Node process exits right after stop() of a %s client',
  async (transport) => {
    const meeting = await createMeeting(stack, `exit ${transport}`);
    const lingered = await exitAfterStop(transport, meeting.meetingId, meeting.hostToken);
    // The keep-alive rounds lingered 20–40 s; anything under 5 s is "at once" on a busy machine.
    expect(lingered).toBeLessThan(5000);
  },
  45_000,
);
