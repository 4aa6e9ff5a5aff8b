/**
 * `npm run start:func`: the app under the real Functions host (`func start`, Azure Functions Core
 * Tools v4, installed separately) with everything it needs on this machine:
 *   - Azurite (a dev dependency) for AzureWebJobsStorage: the host keeps its keys and the timer
 *     triggers' singleton locks in blob storage; without it the timers never fire;
 *   - the embedded Cosmos DB over https (a certificate made once in the data folder), because the
 *     host's change-feed trigger (the .NET SDK) is configured like the emulator's:
 *     `DisableServerCertificateValidation=True` in its connection string, while the Node worker
 *     trusts exactly that certificate through NODE_EXTRA_CA_CERTS (no process-wide opt-out);
 *   - the embedded Web PubSub, its event handler pointed at the host's upstream route.
 * Settings come from local.settings.json (else the sample) and the environment, and are handed
 * to `func` as environment variables, which Core Tools prefers over local.settings.json.
 * A setting that is not "embedded" is used as is (the Cosmos DB emulator, say); settings that
 * point at a production account are refused (productionGuard.ts).
 *
 * Env: PORT (7071, the host), COSMOS_PORT (8081), WEBPUBSUB_PORT (8088), AZURITE_BLOB_PORT (10000),
 * AZURITE_QUEUE_PORT (10001), AZURITE_TABLE_PORT (10002) (0 = any free port),
 * MEETSTREAM_DATA_DIR (./.data), FUNC (the Core Tools executable, default `func`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { guardAgainstProduction } from './productionGuard';
import { readLocalSettings, readRoutePrefix } from './runner/settings';
import { EMBEDDED, WEBPUBSUB_EVENTS_ROUTE, freePort, persistentSecret } from './stack';
import { spawnService, type ChildService } from './supervisor';

/** The Cosmos DB emulator's well-known key, which the embedded Cosmos DB also answers to. */
const COSMOS_KEY = 'C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU9DXHkdnWVSKjFjXuvpwbn+PUuw6qd2t5kzi1sP1C6iu1v5g==';
/** Azurite's well-known development account. */
const AZURITE_ACCOUNT = 'devstoreaccount1';
const AZURITE_KEY =
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export function azuriteConnectionString(ports: { blob: number; queue: number; table: number }): string {
  const at = (port: number) => `http://127.0.0.1:${port}/${AZURITE_ACCOUNT}`;
  return (
    `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};` +
    `BlobEndpoint=${at(ports.blob)};QueueEndpoint=${at(ports.queue)};TableEndpoint=${at(ports.table)};`
  );
}

/** A self-signed certificate for 127.0.0.1/localhost, made once and kept in the data folder. */
async function localCertificate(dataDir: string): Promise<{ certFile: string; keyFile: string }> {
  const dir = path.join(dataDir, 'tls');
  const certFile = path.join(dir, 'localhost-cert.pem');
  const keyFile = path.join(dir, 'localhost-key.pem');
  if (fs.existsSync(certFile) && fs.existsSync(keyFile)) return { certFile, keyFile };
  // A dev dependency, like everything under local/ (Node has no X.509 writer of its own).
  const { generate } = await import('selfsigned');
  const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
    keySize: 2048,
    algorithm: 'sha256',
    notAfterDate: new Date(Date.now() + 825 * 86_400_000),
    extensions: [
      { name: 'basicConstraints', cA: true },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, keyCertSign: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
        ],
      },
    ],
  });
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(keyFile, pems.private, { mode: 0o600 });
  fs.writeFileSync(certFile, pems.cert);
  return { certFile, keyFile };
}

interface Azurite {
  child: ChildProcess;
  ports: { blob: number; queue: number; table: number };
  stop(): Promise<void>;
}

/** Starts Azurite and waits for its three "successfully listening at" lines. */
function startAzurite(
  location: string,
  ports: { blob: number; queue: number; table: number },
): Promise<Azurite> {
  const bin = path.join(path.dirname(require.resolve('azurite/package.json')), 'dist', 'src', 'azurite.js');
  fs.mkdirSync(location, { recursive: true });
  const child = spawn(
    process.execPath,
    [
      bin,
      '--silent',
      '--skipApiVersionCheck',
      '--location',
      location,
      ...['blob', 'queue', 'table'].flatMap((s) => [`--${s}Host`, '127.0.0.1']),
      ...(['blob', 'queue', 'table'] as const).flatMap((s) => [`--${s}Port`, String(ports[s])]),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return new Promise<Azurite>((resolve, reject) => {
    const seen: Partial<Record<'blob' | 'queue' | 'table', number>> = {};
    const recent: string[] = [];
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`Azurite did not start in time:\n${recent.join('\n')}`));
    }, 60_000);
    const onLine = (line: string) => {
      recent.push(line);
      const m = /Azurite (Blob|Queue|Table) service is successfully listening at https?:\/\/[^:]+:(\d+)/.exec(
        line,
      );
      if (m?.[1] && m[2]) seen[m[1].toLowerCase() as 'blob' | 'queue' | 'table'] = Number(m[2]);
      if (seen.blob && seen.queue && seen.table) {
        clearTimeout(timer);
        resolve({
          child,
          ports: { blob: seen.blob, queue: seen.queue, table: seen.table },
          async stop() {
            if (child.exitCode !== null || child.signalCode !== null) return;
            child.kill('SIGTERM');
            // Azurite sometimes takes minutes to act on SIGTERM (seen on a fresh data folder);
            // its data is only the host's keys and timer locks, so a bounded wait then SIGKILL.
            const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
            await exited;
            clearTimeout(timer);
          },
        });
      }
    };
    readline.createInterface({ input: child.stdout! }).on('line', onLine);
    readline.createInterface({ input: child.stderr! }).on('line', onLine);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`Azurite exited before it was ready:\n${recent.join('\n')}`));
    });
  });
}

async function main(): Promise<void> {
  const appDir = path.resolve(__dirname, '..', '..');
  const settings = readLocalSettings(appDir);
  const values: Record<string, string> = { ...settings.values };
  for (const key of Object.keys(values)) if (process.env[key] !== undefined) values[key] = process.env[key]!;
  guardAgainstProduction('npm run start:func', { ...process.env, ...values });

  const dataDir = path.resolve(process.env.MEETSTREAM_DATA_DIR ?? path.join(appDir, '.data'));
  fs.mkdirSync(dataDir, { recursive: true });
  const port = async (name: string, fallback: number) => {
    const n = Number(process.env[name] ?? fallback);
    return n === 0 ? freePort() : n;
  };
  const hostPort = await port('PORT', 7071);
  const dist = __dirname;
  const log = (service: string) => (line: string) => console.log(`[${service}] ${line}`);
  const services: Array<{ stop(): Promise<void> }> = [];
  const stopAll = () => Promise.allSettled(services.reverse().map((s) => s.stop()));

  try {
    const azurite = await startAzurite(path.join(dataDir, 'azurite'), {
      blob: Number(process.env.AZURITE_BLOB_PORT ?? 10000),
      queue: Number(process.env.AZURITE_QUEUE_PORT ?? 10001),
      table: Number(process.env.AZURITE_TABLE_PORT ?? 10002),
    });
    services.push(azurite);
    const env: Record<string, string> = {
      FUNCTIONS_WORKER_RUNTIME: 'node',
      ...values,
      AzureWebJobsStorage: azuriteConnectionString(azurite.ports),
    };

    const wantCosmos = !values.CosmosDBConnection || values.CosmosDBConnection === EMBEDDED;
    if (wantCosmos) {
      const { certFile, keyFile } = await localCertificate(dataDir);
      const cosmos: ChildService = await spawnService({
        name: 'cosmos',
        script: path.join(dist, 'cosmos', 'main.js'),
        env: {
          ...process.env,
          MEETSTREAM_DATA_DIR: dataDir,
          COSMOS_PORT: String(await port('COSMOS_PORT', 8081)),
          COSMOS_TLS_CERT_FILE: certFile,
          COSMOS_TLS_KEY_FILE: keyFile,
        },
        onLine: log('cosmos'),
      });
      services.push(cosmos);
      // The host's trigger (.NET SDK) skips certificate checks for this endpoint only, as for the
      // emulator; the Node worker trusts this one certificate.
      env.CosmosDBConnection =
        `AccountEndpoint=https://127.0.0.1:${cosmos.info.port}/;AccountKey=${COSMOS_KEY};` +
        'DisableServerCertificateValidation=True;';
      env.NODE_EXTRA_CA_CERTS = certFile;
    }

    const wantWebPubSub = !values.WebPubSubConnectionString || values.WebPubSubConnectionString === EMBEDDED;
    if (wantWebPubSub) {
      const key = persistentSecret(dataDir, 'webpubsub-access-key');
      const prefix = readRoutePrefix(appDir).replace(/^\/+|\/+$/g, '');
      const handler = `http://127.0.0.1:${hostPort}/${[prefix, WEBPUBSUB_EVENTS_ROUTE].filter(Boolean).join('/')}`;
      const wps = await spawnService({
        name: 'webpubsub',
        script: path.join(dist, 'webpubsub', 'main.js'),
        env: {
          ...process.env,
          WEBPUBSUB_PORT: String(await port('WEBPUBSUB_PORT', 8088)),
          WEBPUBSUB_ACCESS_KEY: key,
          WEBPUBSUB_EVENT_HANDLER: `${values.WEBPUBSUB_HUB || 'meetstream'}=${handler}`,
          WEBPUBSUB_EVENT_HANDLER_SYSTEM_EVENTS: 'connect,connected,disconnected',
        },
        onLine: log('webpubsub'),
      });
      services.push(wps);
      env.WebPubSubConnectionString = `Endpoint=http://127.0.0.1:${wps.info.port};AccessKey=${key};Version=1.0;`;
    }
    if (!env.MEETSTREAM_TOKEN_SECRET) env.MEETSTREAM_TOKEN_SECRET = persistentSecret(dataDir, 'token-secret');

    const func = process.env.FUNC || 'func';
    console.log(`meetstream: func start --port ${hostPort} (storage: Azurite, data: ${dataDir})`);
    const host = spawn(func, ['start', '--port', String(hostPort)], {
      cwd: appDir,
      env: { ...process.env, ...env },
      stdio: 'inherit',
    });
    const code = await new Promise<number>((resolve) => {
      host.once('error', (err) => {
        console.error(
          `meetstream: cannot run "${func}" (${err.message}). Install Azure Functions Core Tools v4 ` +
            '(it cannot come from npm here: its installer downloads the host), or set FUNC.',
        );
        resolve(127);
      });
      host.once('exit', (c, signal) => resolve(c ?? (signal ? 0 : 1)));
      const forward = (signal: NodeJS.Signals) => () => host.kill(signal);
      process.once('SIGINT', forward('SIGINT'));
      process.once('SIGTERM', forward('SIGTERM'));
    });
    await stopAll();
    process.exit(code);
  } catch (err) {
    await stopAll();
    throw err;
  }
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(`meetstream: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
