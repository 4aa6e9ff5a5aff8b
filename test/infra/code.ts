/**
 * What the code expects of its deployment, read from the code itself: the settings lib/config.ts
 * reads and requires (by running readConfig with an environment that records every lookup), the
 * containers ensureCosmosResources() creates (by running it against a recording fake client), the
 * SQL the code sends (from the sources), and the event handler's route.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CosmosClient } from '@azure/cosmos';
import { ensureCosmosResources } from '../../lib/adapters/cosmos';
import { ConfigError, readConfig, type Config } from '../../lib/config';

export const ROOT = path.resolve(__dirname, '../../..');

/** A key-based environment that passes validation (what the embedded stack and emulators use). */
export const KEYED_ENV: Record<string, string> = {
  CosmosDBConnection: 'AccountEndpoint=https://cosmos.invalid:443/;AccountKey=a2V5;',
  WebPubSubConnectionString: 'Endpoint=https://wps.invalid;AccessKey=a2V5;Version=1.0;',
  MEETSTREAM_TOKEN_SECRET: 'x'.repeat(48),
};

/** Runs readConfig on `env`, recording every setting name it looks up. */
export function readRecorded(env: Record<string, string>): { read: Set<string>; problems: string[] } {
  const read = new Set<string>();
  const proxy = new Proxy(env, {
    get(target, key) {
      if (typeof key === 'string') read.add(key);
      return target[key as string];
    },
  });
  try {
    readConfig(proxy as NodeJS.ProcessEnv);
    return { read, problems: [] };
  } catch (err) {
    if (err instanceof ConfigError) return { read, problems: err.problems };
    throw err;
  }
}

/** Settings lib/config.ts reads, over the given environments (each may take other branches). */
export function settingsReadByConfig(...envs: Record<string, string>[]): Set<string> {
  const all = new Set<string>();
  for (const env of [{}, KEYED_ENV, ...envs]) for (const name of readRecorded(env).read) all.add(name);
  return all;
}

/** Settings lib/config.ts refuses to start without. */
export function settingsRequiredByConfig(): string[] {
  return readRecorded({})
    .problems.map((p) => /^(\S+) is required$/.exec(p)?.[1])
    .filter((n): n is string => n !== undefined);
}

export interface CreatedContainer {
  id: string;
  partitionKeyPaths: string[];
  defaultTtl?: number;
  indexingPolicy?: unknown;
}

/** The database and containers ensureCosmosResources() creates, captured from a fake client. */
export async function containersCreatedByCode(): Promise<{
  config: Config;
  database: string;
  containers: CreatedContainer[];
}> {
  const config = readConfig(KEYED_ENV);
  let database = '';
  const containers: CreatedContainer[] = [];
  const fake = {
    databases: {
      createIfNotExists: async ({ id }: { id: string }) => {
        database = id;
        return {
          database: {
            containers: {
              createIfNotExists: async (def: {
                id: string;
                partitionKey?: string | { paths: string[] };
                defaultTtl?: number;
                indexingPolicy?: unknown;
              }) => {
                const pk = def.partitionKey;
                containers.push({
                  id: def.id,
                  partitionKeyPaths: typeof pk === 'string' ? [pk] : (pk?.paths ?? []),
                  defaultTtl: def.defaultTtl,
                  indexingPolicy: def.indexingPolicy,
                });
                return { container: {} };
              },
            },
          },
        };
      },
    },
  };
  await ensureCosmosResources(config, fake as unknown as CosmosClient);
  return { config, database, containers };
}

export interface CodeQuery {
  file: string;
  line: number;
  /** `events` or `meetings` when the receiver says so (`….events.items.query`), else undefined. */
  container?: 'events' | 'meetings';
  sql: string;
}

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    return e.isDirectory() ? sourceFiles(full) : e.name.endsWith('.ts') ? [full] : [];
  });
}

/** Skips a balanced `<…>` / `(…)` starting at `i` (strings included); returns the index after it. */
function skipBalanced(text: string, i: number, open: string, close: string): number {
  let depth = 0;
  for (let j = i; j < text.length; j++) {
    const c = text[j];
    if (c === "'" || c === '"' || c === '`') {
      const end = text.indexOf(c, j + 1);
      j = end < 0 ? text.length : end;
    } else if (c === open) depth++;
    else if (c === close && --depth === 0) return j + 1;
  }
  return text.length;
}

/**
 * Every Cosmos DB query the app sends: `.items.query(…)` calls in lib/ and functions/. The SQL is
 * the string literals of the call up to its `parameters` (concatenations included).
 */
export function queriesInCode(): CodeQuery[] {
  const out: CodeQuery[] = [];
  for (const file of [...sourceFiles(path.join(ROOT, 'lib')), ...sourceFiles(path.join(ROOT, 'functions'))]) {
    const text = fs.readFileSync(file, 'utf8');
    for (const m of text.matchAll(/\.items\s*\.query\b/g)) {
      let i = (m.index ?? 0) + m[0].length;
      while (/\s/.test(text[i] ?? '')) i++;
      if (text[i] === '<') i = skipBalanced(text, i, '<', '>');
      while (/\s/.test(text[i] ?? '')) i++;
      if (text[i] !== '(') continue;
      const call = text.slice(i, skipBalanced(text, i, '(', ')'));
      const head = call.split(/\bparameters\b/)[0] ?? '';
      const sql = [...head.matchAll(/'([^']*)'|"([^"]*)"|`([^`]*)`/g)]
        .map((s) => s[1] ?? s[2] ?? s[3] ?? '')
        .join('')
        .trim();
      const before = text.slice(Math.max(0, (m.index ?? 0) - 40), m.index);
      const receiver = /\b(events|meetings)\s*$/.exec(before)?.[1] as CodeQuery['container'];
      out.push({
        file: path.relative(ROOT, file),
        line: text.slice(0, m.index).split('\n').length,
        container: receiver,
        sql,
      });
    }
  }
  return out;
}

/**
 * Property paths a query filters (WHERE) or sorts (ORDER BY) on, as index paths (`/a/b`).
 * Projections need no index.
 */
export function filteredAndSortedPaths(sql: string): string[] {
  const where = /\bWHERE\b([\s\S]*)$/i.exec(sql)?.[1] ?? '';
  const paths = new Set<string>();
  for (const m of where.matchAll(/\bc((?:\.[A-Za-z_]\w*|\[\s*["'][^"']+["']\s*\])+)/g)) {
    const segments = [...(m[1] ?? '').matchAll(/\.([A-Za-z_]\w*)|\[\s*["']([^"']+)["']\s*\]/g)].map(
      (s) => s[1] ?? s[2] ?? '',
    );
    paths.add('/' + segments.join('/'));
  }
  return [...paths];
}

/** `/api/webpubsub/events`: host.json's route prefix + the webPubSubEvents function's route. */
export function webPubSubEventsPath(): string {
  const host = JSON.parse(fs.readFileSync(path.join(ROOT, 'host.json'), 'utf8')) as {
    extensions?: { http?: { routePrefix?: string } };
  };
  const prefix = host.extensions?.http?.routePrefix ?? 'api';
  const fn = fs.readFileSync(path.join(ROOT, 'functions/webPubSubEvents.ts'), 'utf8');
  const route = /app\.http\(\s*'webPubSubEvents'[\s\S]*?route:\s*'([^']+)'/.exec(fn)?.[1];
  if (!route) throw new Error('functions/webPubSubEvents.ts: route not found');
  return `/${[prefix, route].filter(Boolean).join('/')}`;
}
