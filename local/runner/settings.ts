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
}

export function readLocalSettings(appDir: string): LocalSettings {
  for (const name of ['local.settings.json', 'local.settings.sample.json']) {
    const file = path.join(appDir, name);
    if (!fs.existsSync(file)) continue;
    const parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as { Values?: Record<string, unknown> };
    const values: Record<string, string> = {};
    for (const [k, v] of Object.entries(parsed.Values ?? {}))
      if (v !== undefined && v !== null) values[k] = String(v);
    return { file, values };
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
