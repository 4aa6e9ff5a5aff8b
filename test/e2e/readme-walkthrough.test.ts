/**
 * The README's two-minute walkthrough and its `listen.mjs`, run exactly as written (the shell block
 * with bash and curl, the script with node) against a stack on a free port, given as PORT the way
 * the README says to.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { repoRoot, startTestStack, waitUntil, type TestStack } from '../support/stack';

const readme = fs.readFileSync(path.join(repoRoot, 'README.md'), 'utf8');

/** The first fenced block of `lang` after `heading`. */
function block(heading: string, lang: string): string {
  const from = readme.indexOf(heading);
  if (from < 0) throw new Error(`README has no "${heading}"`);
  const match = new RegExp('```' + lang + '\\n([\\s\\S]*?)```').exec(readme.slice(from));
  if (!match?.[1]) throw new Error(`no ${lang} block after "${heading}"`);
  return match[1];
}

// The walkthrough needs curl (.ci/run installs it).
describe('the README walkthrough', () => {
  let stack: TestStack;
  let port: string;
  const scriptFile = path.join(repoRoot, `listen-readme-test-${process.pid}.mjs`);

  beforeAll(async () => {
    stack = await startTestStack();
    port = new URL(stack.apiUrl).port;
  });
  afterAll(async () => {
    fs.rmSync(scriptFile, { force: true });
    await stack?.cleanup();
  });

  test('works as written on another port, and listen.mjs prints a connected line and who did what', async () => {
    const walkthrough = block('## Two-minute walkthrough', 'bash');
    expect(walkthrough).not.toContain('7071/api\n'); // the port comes from PORT
    const shell = spawnSync(
      'bash',
      ['-e', '-c', `${walkthrough}\necho\necho "MEETING=$MEETING"\necho "TOKEN=$TOKEN"`],
      {
        env: { ...process.env, PORT: port },
        encoding: 'utf8',
        timeout: 30_000,
      },
    );
    expect(shell.stderr).toBe('');
    expect(shell.status).toBe(0);
    const out = shell.stdout;
    expect(out).toContain('"status":"ok"'); // health
    expect(out).toContain('"hi all"'); // the chat message among the envelopes
    expect(out).toContain('"summary"');
    const meetingId = /^MEETING=(.+)$/m.exec(out)?.[1];
    const token = /^TOKEN=(.+)$/m.exec(out)?.[1];
    expect(meetingId).toBeTruthy();
    expect(token).toBeTruthy();

    fs.writeFileSync(scriptFile, block('save as `listen.mjs`', 'js'));
    const child = spawn(process.execPath, [scriptFile, meetingId!, token!], {
      cwd: repoRoot,
      env: { ...process.env, PORT: port },
    });
    let printed = '';
    child.stdout.on('data', (d: Buffer) => (printed += d.toString()));
    child.stderr.on('data', (d: Buffer) => (printed += d.toString()));
    const printedSoon = (text: string) =>
      waitUntil(() => printed.includes(text), 15_000).catch(() => {
        throw new Error(`listen.mjs never printed ${JSON.stringify(text)}; it printed:\n${printed}`);
      });
    try {
      await printedSoon('connected');
      const me = (await (
        await fetch(`${stack.apiUrl}/meetings/${meetingId}`, {
          headers: { authorization: `Bearer ${token}` },
        })
      ).json()) as { you: { id: string } };
      const posted = await fetch(`${stack.apiUrl}/meetings/${meetingId}/events`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ id: 'c-2', type: 'chat.message', data: { text: 'live now' } }),
      });
      expect(posted.status).toBe(202);
      await printedSoon(`chat.message by ${me.you.id} {"text":"live now"}`);
    } finally {
      child.kill();
    }
  });
});
