/**
 * The deployment package (scripts/package.mjs, `npm run package`): exactly the compiled app, its
 * host and package files and production dependencies; no sources, tests, local stack, benchmarks
 * or dev dependencies; and every function file loads from it with nothing else around.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const repoRoot = path.resolve(__dirname, '..', '..', '..');
const readJson = <T>(file: string) => JSON.parse(fs.readFileSync(file, 'utf8')) as T;

function walk(dir: string, base = dir): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    return e.isDirectory() ? walk(full, base) : [path.relative(base, full)];
  });
}

describe('the deployment package', () => {
  let out: string;
  let files: string[];

  beforeAll(async () => {
    out = fs.mkdtempSync(path.join(os.tmpdir(), 'meetstream-package-'));
    // dist/ is already built by the test command; --no-build packages it as it is.
    await run(process.execPath, [path.join(repoRoot, 'scripts', 'package.mjs'), '--no-build'], {
      cwd: repoRoot,
      env: { ...process.env, PACKAGE_OUT: out },
      timeout: 240_000,
    });
    files = walk(out).filter((f) => !f.startsWith(`node_modules${path.sep}`));
  }, 300_000);

  afterAll(() => fs.rmSync(out, { recursive: true, force: true }));

  test('holds one compiled entry file per function source, and nothing of the local stack, tests or benchmarks', () => {
    const sources = fs
      .readdirSync(path.join(repoRoot, 'functions'))
      .filter((f) => f.endsWith('.ts'))
      .map((f) => f.replace(/\.ts$/, '.js'))
      .sort();
    const entries = fs.readdirSync(path.join(out, 'dist', 'functions')).sort();
    expect(entries).toEqual(sources);
    const topLevel = [...new Set(files.map((f) => f.split(path.sep)[0]))].sort();
    expect(topLevel).toEqual(['.funcignore', 'dist', 'host.json', 'package-lock.json', 'package.json']);
    expect(fs.readdirSync(path.join(out, 'dist')).sort()).toEqual(['functions', 'lib']);
    expect(files.filter((f) => f.endsWith('.ts') || f.endsWith('.map'))).toEqual([]);
  });

  test('package.json keeps main, engines and dependencies only, and main matches the entry files', () => {
    const shipped = readJson<Record<string, unknown>>(path.join(out, 'package.json'));
    const source = readJson<Record<string, unknown>>(path.join(repoRoot, 'package.json'));
    expect(shipped.devDependencies).toBeUndefined();
    expect(shipped.scripts).toBeUndefined();
    expect(shipped.dependencies).toEqual(source.dependencies);
    expect(shipped.main).toBe('dist/functions/*.js');
  });

  test('no dev dependency is installed unless a production dependency needs it', () => {
    const lock = readJson<{ packages: Record<string, { dev?: boolean }> }>(
      path.join(repoRoot, 'package-lock.json'),
    );
    const installed = fs
      .readdirSync(path.join(out, 'node_modules'))
      .flatMap((name) =>
        name.startsWith('@')
          ? fs.readdirSync(path.join(out, 'node_modules', name)).map((n) => `${name}/${n}`)
          : [name],
      )
      .filter((n) => !n.startsWith('.'));
    const devOnly = installed.filter((n) => lock.packages[`node_modules/${n}`]?.dev === true);
    expect(devOnly).toEqual([]);
    const devDependencies = Object.keys(
      readJson<{ devDependencies: Record<string, string> }>(path.join(repoRoot, 'package.json'))
        .devDependencies,
    );
    for (const name of [
      'typescript',
      'jest',
      '@vercel/cosmosdb-server',
      'autocannon',
      '@azure/web-pubsub-client',
    ])
      expect(devDependencies).toContain(name);
    expect(installed.filter((n) => devDependencies.includes(n))).toEqual([]);
  });

  test('every function file loads from the package alone', async () => {
    const script = `for (const f of require('fs').readdirSync('dist/functions')) require('./dist/functions/' + f); console.log('loaded');`;
    const { stdout } = await run(process.execPath, ['-e', script], {
      cwd: out,
      env: {
        PATH: process.env.PATH,
        NODE_PATH: '',
        CosmosDBConnection: 'AccountEndpoint=http://127.0.0.1:9/;AccountKey=dGVzdC1rZXk=;',
        WebPubSubConnectionString: 'Endpoint=http://127.0.0.1:9;AccessKey=dGVzdC1rZXk=;Version=1.0;',
        MEETSTREAM_TOKEN_SECRET: 'package-test-secret-of-at-least-32-bytes',
      },
      timeout: 60_000,
    });
    expect(stdout).toContain('loaded');
  }, 90_000);
});

describe('npm run build', () => {
  test('leaves no stale compiled file behind for the host to register', async () => {
    // A copy of the sources (node_modules linked), so the running tests' dist/ is untouched.
    const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'meetstream-build-'));
    try {
      for (const entry of [
        'functions',
        'lib',
        'local',
        'client',
        'test',
        'bench',
        'web',
        'package.json',
        'tsconfig.json',
      ])
        fs.cpSync(path.join(repoRoot, entry), path.join(copy, entry), { recursive: true });
      fs.symlinkSync(path.join(repoRoot, 'node_modules'), path.join(copy, 'node_modules'));
      fs.mkdirSync(path.join(copy, 'dist', 'functions'), { recursive: true });
      fs.writeFileSync(
        path.join(copy, 'dist', 'functions', 'deletedFunction.js'),
        "require('@azure/functions')",
      );
      await run('npm', ['run', 'build', '--silent'], { cwd: copy, timeout: 240_000 });
      const entries = fs.readdirSync(path.join(copy, 'dist', 'functions'));
      expect(entries).not.toContain('deletedFunction.js');
      expect(entries).toContain('processEvents.js');
    } finally {
      fs.rmSync(copy, { recursive: true, force: true });
    }
  }, 300_000);
});
