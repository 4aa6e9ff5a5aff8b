/**
 * `npm run start:func` (local/funcStart.ts), with a stand-in for Core Tools' `func` (the real one
 * cannot be installed here): it is started with Azurite running for AzureWebJobsStorage, the
 * embedded Cosmos DB over https with the trigger's flag and the worker's trust of exactly that
 * certificate, and the embedded Web PubSub; and it is never started against a production account.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { remoteAccounts } from '../../local/productionGuard';
import { repoRoot } from '../support/stack';

const script = path.join(repoRoot, 'dist', 'local', 'funcStart.js');

/** A fake `func`: records how it was started, checks what it was given, exits. */
const FAKE_FUNC = `#!${process.execPath}
const fs = require('fs');
const out = process.env.FAKE_FUNC_OUT;
(async () => {
  const result = { args: process.argv.slice(2), cwd: process.cwd(), env: {} };
  for (const k of ['AzureWebJobsStorage', 'CosmosDBConnection', 'WebPubSubConnectionString', 'NODE_EXTRA_CA_CERTS', 'FUNCTIONS_WORKER_RUNTIME', 'MEETSTREAM_TOKEN_SECRET']) result.env[k] = process.env[k];
  const blob = /BlobEndpoint=([^;]+)/.exec(process.env.AzureWebJobsStorage || '')[1];
  result.blobStatus = (await fetch(blob + '?comp=list')).status;
  // As the Node worker would: the SDK, over https, trusting only NODE_EXTRA_CA_CERTS.
  const { CosmosClient } = require(require.resolve('@azure/cosmos', { paths: [process.cwd()] }));
  const client = new CosmosClient(process.env.CosmosDBConnection.replace('DisableServerCertificateValidation=True;', ''));
  const { resources } = await client.databases.readAll().fetchAll();
  result.cosmosDatabases = resources.length;
  client.dispose();
  const wps = /Endpoint=([^;]+)/.exec(process.env.WebPubSubConnectionString)[1];
  result.wpsHealth = (await fetch(wps + '/api/health')).status;
  fs.writeFileSync(out, JSON.stringify(result));
})().catch((e) => { fs.writeFileSync(out, JSON.stringify({ error: String(e && e.stack || e) })); process.exit(3); });
`;

function run(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [script], {
      cwd: repoRoot,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    // Bounded, so a hang fails with what the script printed instead of a bare test timeout.
    const timer = setTimeout(() => child.kill('SIGTERM'), 45_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meetstream-func-'));
  fs.writeFileSync(path.join(dir, 'func'), FAKE_FUNC, { mode: 0o755 });
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const ports = {
  PORT: '0',
  COSMOS_PORT: '0',
  WEBPUBSUB_PORT: '0',
  AZURITE_BLOB_PORT: '0',
  AZURITE_QUEUE_PORT: '0',
  AZURITE_TABLE_PORT: '0',
};

test('func start gets Azurite, the embedded Cosmos DB over https and the embedded Web PubSub', async () => {
  const out = path.join(dir, 'seen.json');
  const { code, output } = await run({
    ...ports,
    FUNC: path.join(dir, 'func'),
    FAKE_FUNC_OUT: out,
    MEETSTREAM_DATA_DIR: path.join(dir, 'data'),
    CosmosDBConnection: 'embedded',
    WebPubSubConnectionString: 'embedded',
  });
  if (!fs.existsSync(out)) throw new Error(`func was not started (exit ${code}):\n${output}`);
  const seen = JSON.parse(fs.readFileSync(out, 'utf8')) as Record<string, unknown> & {
    env: Record<string, string>;
    args: string[];
  };
  expect({ code, error: seen.error }).toEqual({ code: 0, error: undefined });
  expect(seen.args[0]).toBe('start');
  expect(seen.args).toContain('--port');
  expect(seen.cwd).toBe(repoRoot);
  expect(seen.env.FUNCTIONS_WORKER_RUNTIME).toBe('node');
  expect(seen.env.AzureWebJobsStorage).toMatch(
    /^DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;/,
  );
  expect(seen.blobStatus).toBe(403); // Azurite answered (an unsigned list is refused, as Azure does)
  expect(seen.env.CosmosDBConnection).toMatch(
    /^AccountEndpoint=https:\/\/127\.0\.0\.1:\d+\/;AccountKey=[^;]+;DisableServerCertificateValidation=True;$/,
  );
  expect(fs.existsSync(seen.env.NODE_EXTRA_CA_CERTS ?? '')).toBe(true);
  expect(seen.cosmosDatabases).toBe(0); // the SDK reached the https endpoint, trusting the certificate
  expect(seen.wpsHealth).toBe(200);
  expect(seen.env.MEETSTREAM_TOKEN_SECRET?.length).toBeGreaterThanOrEqual(32);
  expect(output).not.toContain(seen.env.MEETSTREAM_TOKEN_SECRET);
});

test('settings that point at a production account are refused before anything starts', async () => {
  const out = path.join(dir, 'never.json');
  const { code, output } = await run({
    ...ports,
    FUNC: path.join(dir, 'func'),
    FAKE_FUNC_OUT: out,
    MEETSTREAM_DATA_DIR: path.join(dir, 'data2'),
    CosmosDBConnection: 'AccountEndpoint=https://prod.documents.azure.com:443/;AccountKey=c2VjcmV0LWtleQ==;',
  });
  expect(code).toBe(1);
  expect(output).toContain('refusing to start: CosmosDBConnection points at prod.documents.azure.com');
  expect(output).not.toContain('c2VjcmV0LWtleQ==');
  expect(fs.existsSync(out)).toBe(false);
});

test('local endpoints (embedded, emulator) pass the guard; identity endpoints of real accounts do not', () => {
  expect(
    remoteAccounts({
      CosmosDBConnection: 'AccountEndpoint=https://localhost:8081/;AccountKey=k;',
      WebPubSubConnectionString: 'embedded',
    }),
  ).toEqual([]);
  expect(
    remoteAccounts({
      CosmosDBConnection__accountEndpoint: 'https://acct.documents.azure.com:443/',
      WebPubSubConnectionString: 'Endpoint=https://hub.webpubsub.azure.com;AccessKey=k;Version=1.0;',
    }),
  ).toEqual([
    'WebPubSubConnectionString points at hub.webpubsub.azure.com',
    'CosmosDBConnection__accountEndpoint points at acct.documents.azure.com',
  ]);
});
