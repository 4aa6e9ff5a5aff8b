/**
 * Loads a function app the way the real Node.js worker does: make `@azure/functions-core`
 * resolvable BEFORE any app module is required (the library caches a failed lookup forever and
 * silently switches to "test mode"), require every file matched by package.json `main`, then
 * call getCapabilities once to lock app.setup() (and start the library's HTTP-stream proxy).
 */
import * as fs from 'node:fs';
// The module object itself (a namespace import would be a frozen copy): its createServer is swapped below.
import http from 'node:http';
import Module from 'node:module';
import * as path from 'node:path';
import * as core from './functionsCore';

const CORE_MODULE = '@azure/functions-core';
let installed = false;

export function installFunctionsCore(): void {
  if (installed) return;
  installed = true;
  type RequireFn = (this: NodeJS.Module, id: string) => unknown;
  const proto = Module.prototype as unknown as { require: RequireFn };
  const original = proto.require;
  proto.require = function (this: NodeJS.Module, id: string) {
    if (id === CORE_MODULE) return core;
    return original.call(this, id);
  };
}

/** Expands package.json `main`, which may be a single file or a glob like `dist/functions/*.js`. */
export function resolveEntryFiles(appDir: string): string[] {
  const pkg = JSON.parse(fs.readFileSync(path.join(appDir, 'package.json'), 'utf8')) as { main?: string };
  const main = pkg.main ?? 'index.js';
  if (!main.includes('*')) return [path.resolve(appDir, main)];
  const dir = path.resolve(appDir, path.dirname(main));
  const pattern = new RegExp(
    '^' +
      path
        .basename(main)
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replace(/\*/g, '.*') +
      '$',
  );
  if (!fs.existsSync(dir)) throw new Error(`No compiled functions at ${dir}: run "npm run build" first.`);
  return fs
    .readdirSync(dir)
    .filter((f) => pattern.test(f))
    .sort()
    .map((f) => path.join(dir, f));
}

export interface LoadedApp {
  functions: core.RegisteredFunction[];
  model: core.ProgrammingModel;
  /** Set when the app called app.setup({ enableHttpStream: true }). */
  httpStreamUri?: string;
  /** The library's own proxy server behind httpStreamUri (requests can be handed to it in process). */
  httpStreamServer?: http.Server;
}

/**
 * `order` rearranges the entry files before they are required: the worker expands the glob with
 * globby, whose order is not specified, so registrations must not depend on it (the host
 * contract test loads the app in shuffled orders).
 */
export async function loadFunctionApp(
  appDir: string,
  order: (files: string[]) => string[] = (files) => files,
): Promise<LoadedApp> {
  installFunctionsCore();
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loading the app like the worker does
  for (const file of order(resolveEntryFiles(appDir))) require(file);
  const model = core.registry.programmingModel;
  if (!model) throw new Error('The app registered no functions through @azure/functions.');
  // getCapabilities starts the library's HTTP-stream proxy with http.createServer(): note the
  // server it creates, so the host can hand requests to it without a loopback round trip.
  const created: http.Server[] = [];
  const createServer = http.createServer;
  const patched = function (this: unknown, ...args: unknown[]) {
    const server = (createServer as (...a: unknown[]) => http.Server).apply(this, args);
    created.push(server);
    return server;
  };
  (http as { createServer: unknown }).createServer = patched;
  let capabilities: Record<string, string>;
  try {
    capabilities = await model.getCapabilities({});
  } finally {
    (http as { createServer: unknown }).createServer = createServer;
  }
  return {
    functions: core.registry.functions,
    model,
    httpStreamUri: capabilities.HttpUri,
    httpStreamServer: capabilities.HttpUri && created.length === 1 ? created[0] : undefined,
  };
}
