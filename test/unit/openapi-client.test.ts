/**
 * A client generated from docs/openapi.json (openapi-typescript) can follow a meeting, not only
 * write to one: its types cover the catch-up query and page, and a strict consumer that switches
 * over envelope kinds type-checks (and would not if the document left the page or the envelopes
 * untyped: `never` in the default branch proves the switch is exhaustive).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { OPENAPI_FILE } from '../../lib/openapi';

const root = path.resolve(__dirname, '..', '..', '..');

const consumer = `
import type { paths } from './api';

type CatchUp = paths['/meetings/{meetingId}/events']['get'];
type Page = CatchUp['responses'][200]['content']['application/json'];
type Query = NonNullable<CatchUp['parameters']['query']>;

export const first: Query = { after: '0', limit: '100', wait: '5' };
export const following = (page: Page): Query | undefined => (page.next === null ? undefined : { cursor: page.next });

export function describe(page: Page): string[] {
  const lines: string[] = [];
  for (const envelope of page.items) {
    const seq: number = envelope.seq;
    switch (envelope.kind) {
      case 'event': {
        const who: string = envelope.actor ?? 'system';
        if (envelope.type === 'chat.message' || envelope.type === 'participant.joined') lines.push(envelope.id);
        lines.push(\`\${seq} \${who} \${envelope.type} \${Object.keys(envelope.data).length}\`);
        break;
      }
      case 'state':
      case 'analytics':
        lines.push(\`\${seq} \${envelope.kind} \${envelope.type} \${Object.keys(envelope.data).join(',')}\`);
        break;
      default: {
        const unknownKind: never = envelope;
        throw new Error(String(unknownKind));
      }
    }
  }
  return lines;
}
`;

describe('a client generated from the OpenAPI document', () => {
  test('types the catch-up query and page well enough for a strict consumer to switch over envelope kinds', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meetstream-openapi-client-'));
    try {
      const cli = path.join(root, 'node_modules', 'openapi-typescript', 'bin', 'cli.js');
      execFileSync(process.execPath, [cli, path.join(root, OPENAPI_FILE), '-o', path.join(dir, 'api.ts')], {
        stdio: 'pipe',
        timeout: 60_000,
      });
      fs.writeFileSync(path.join(dir, 'consumer.ts'), consumer);
      const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
      const args = ['--noEmit', '--strict', '--noUncheckedIndexedAccess', '--target', 'es2022'];
      execFileSync(process.execPath, [tsc, ...args, '--module', 'nodenext', path.join(dir, 'consumer.ts')], {
        stdio: 'pipe',
        timeout: 90_000,
      });
    } catch (err) {
      const out = err as { stdout?: Buffer; stderr?: Buffer };
      throw new Error(`${String(out.stdout ?? '')}${String(out.stderr ?? '')}` || String(err));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
