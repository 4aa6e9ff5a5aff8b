/**
 * App settings for local runs, like `func start`: `local.settings.json` (never committed) or, when
 * absent, `local.settings.sample.json`. Values already in the environment win, so tests and
 * `npm start` can override any of them.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface LocalSettings {
  file?: string;
  values: Record<string, string>;
  /** `Host.CORS`, as `func start` reads it: comma-separated origins, or `*`. */
  cors?: string;
}

export function readLocalSettings(appDir: string): LocalSettings {
  for (const name of ['local.settings.json', 'local.settings.sample.json']) {
    const file = path.join(appDir, name);
    if (!fs.existsSync(file)) continue;
    const parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as {
      Values?: Record<string, unknown>;
      Host?: { CORS?: unknown };
    };
    const values: Record<string, string> = {};
    for (const [k, v] of Object.entries(parsed.Values ?? {}))
      if (v !== undefined && v !== null) values[k] = String(v);
    const cors = typeof parsed.Host?.CORS === 'string' ? parsed.Host.CORS : undefined;
    return { file, values, cors };
  }
  return { values: {} };
}

/** Copies settings into the environment without overwriting what is already set. */
export function applySettings(values: Record<string, string>, env: NodeJS.ProcessEnv = process.env): void {
  for (const [k, v] of Object.entries(values)) if (env[k] === undefined) env[k] = v;
}

export function readRoutePrefix(appDir: string): string {
  const file = path.join(appDir, 'host.json');
  if (!fs.existsSync(file)) return 'api';
  const host = JSON.parse(fs.readFileSync(file, 'utf8')) as {
    extensions?: { http?: { routePrefix?: string } };
  };
  return host.extensions?.http?.routePrefix ?? 'api';
}

/** Allowed browser origins from `*` or a comma-separated list; empty = no CORS headers at all. */
export function parseCorsOrigins(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((o) => o.trim().replace(/\/+$/, ''))
    .filter(Boolean);
}
