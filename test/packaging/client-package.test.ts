/**
 * The typed client as a package (@meetstream/client, built from client/ by `npm run build`): it
 * loads by its public name as Node ESM, ships .d.ts that a strict TypeScript app compiles against,
 * and packs nothing of the server.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const repoRoot = path.resolve(__dirname, '..', '..', '..');
const packageDir = path.join(repoRoot, 'client');

describe('the @meetstream/client package', () => {
  test('imports by its public name in Node ESM, with MeetstreamClient a constructor', async () => {
    const script = [
      "const m = await import('@meetstream/client');",
      'const c = new m.MeetstreamClient({ baseUrl: "http://127.0.0.1:1/api", meetingId: "m1", token: "t" });',
      'console.log(JSON.stringify({ ctor: typeof m.MeetstreamClient, instance: c instanceof m.MeetstreamClient, emoji: m.REACTION_EMOJI.length }));',
    ].join('\n');
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: repoRoot });
    expect(JSON.parse(stdout)).toEqual({ ctor: 'function', instance: true, emoji: 12 });
  });

  test('declares its types, and a strict TypeScript consumer compiles against them', async () => {
    const types = pkg().exports['.']!.types;
    expect(fs.existsSync(path.join(packageDir, types))).toBe(true);
    const tsc = require.resolve('typescript/bin/tsc');
    const consumer = path.join(repoRoot, 'test', 'fixtures', 'clientConsumer', 'tsconfig.json');
    await expect(run(process.execPath, [tsc, '-p', consumer], { cwd: repoRoot })).resolves.toBeDefined();
  });

  test('packs the bundle and declarations only: no server code', async () => {
    const { stdout } = await run('npm', ['pack', '--dry-run', '--json'], { cwd: packageDir });
    const files = (JSON.parse(stdout) as Array<{ files: Array<{ path: string }> }>)[0]!.files.map(
      (f) => f.path,
    );
    expect(files).toContain('dist/index.js');
    expect(files).toContain(pkg().types.replace(/^\.\//, ''));
    for (const file of files) {
      expect(file).toMatch(
        /^(package\.json|dist\/index\.js(\.map)?|dist\/types\/(client|lib\/protocol)\/[^/]+\.d\.ts)$/,
      );
    }
    expect(files.some((f) => /documents|domain|analytics|functions|adapters/.test(f))).toBe(false);
    // The bundle inlines the protocol constants but no server module.
    const bundle = fs.readFileSync(path.join(packageDir, 'dist', 'index.js'), 'utf8');
    expect(bundle).not.toMatch(/@azure\/cosmos|@azure\/functions|zod/);
  });
});

function pkg(): { types: string; exports: Record<string, { types: string }> } {
  return JSON.parse(fs.readFileSync(path.join(packageDir, 'package.json'), 'utf8'));
}
