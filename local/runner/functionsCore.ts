/**
 * The runner's implementation of `@azure/functions-core`, the module the real Node.js worker
 * provides to `@azure/functions` (v4). The library calls only setProgrammingModel,
 * registerFunction, registerHook and log on it; everything it registers lands in `registry`.
 *
 * The types below are the subset of the worker's contract the library uses (the worker's own
 * type package is not published on npm).
 */

export type RpcTypedData = Record<string, unknown>;

export interface RpcBindingInfo {
  type?: string;
  direction?: 'in' | 'out' | 'inout';
  name?: string;
  [key: string]: unknown;
}

export interface RetryOptions {
  retryStrategy?: 'exponentialBackoff' | 'fixedDelay';
  maxRetryCount?: number;
  delayInterval?: { seconds?: number | string; nanos?: number };
  minimumInterval?: { seconds?: number | string; nanos?: number };
  maximumInterval?: { seconds?: number | string; nanos?: number };
}

export interface FunctionMetadata {
  name: string;
  bindings: Record<string, RpcBindingInfo>;
  retryOptions?: RetryOptions;
}

export type FunctionCallback = (...args: unknown[]) => unknown;

export interface InvocationRequest {
  inputData?: Array<{ name: string; data: RpcTypedData }>;
  triggerMetadata?: Record<string, RpcTypedData>;
  retryContext?: { retryCount: number; maxRetryCount: number; exception?: { message?: string } };
}

export interface CoreInvocationContext {
  invocationId: string;
  request: InvocationRequest;
  metadata: FunctionMetadata;
  state?: string;
  log(level: string, category: string, message: string): void;
}

export interface InvocationArguments {
  context: unknown;
  inputs: unknown[];
}

export interface InvocationModel {
  getArguments(): Promise<InvocationArguments>;
  invokeFunction(context: unknown, inputs: unknown[], callback: FunctionCallback): Promise<unknown>;
  getResponse(
    context: unknown,
    result: unknown,
  ): Promise<{ returnValue?: RpcTypedData | null; outputData?: unknown[] }>;
}

export interface ProgrammingModel {
  name: string;
  version: string;
  getInvocationModel(coreCtx: CoreInvocationContext): InvocationModel;
  getCapabilities(capabilities: Record<string, string>): Promise<Record<string, string>>;
}

export type HookCallback = (context: Record<string, unknown>) => unknown;

export class Disposable {
  constructor(private readonly onDispose: () => void) {}
  dispose(): void {
    this.onDispose();
  }
}

export interface RegisteredFunction {
  metadata: FunctionMetadata;
  callback: FunctionCallback;
}

export type LogSink = (level: string, category: string, message: string) => void;

/** Everything the loaded app registered, in registration order. */
export const registry = {
  programmingModel: undefined as ProgrammingModel | undefined,
  functions: [] as RegisteredFunction[],
  hooks: new Map<string, HookCallback[]>(),
  logSink: ((level: string, category: string, message: string) => {
    if (level === 'error' || level === 'warning' || level === 'critical')
      console.error(`[${category}] ${message}`);
  }) as LogSink,
};

export function setProgrammingModel(model: ProgrammingModel): void {
  registry.programmingModel = model;
}

export function getProgrammingModel(): ProgrammingModel | undefined {
  return registry.programmingModel;
}

export function registerFunction(metadata: FunctionMetadata, callback: FunctionCallback): Disposable {
  if (registry.functions.some((f) => f.metadata.name === metadata.name)) {
    throw new Error(`A function with the name "${metadata.name}" has already been registered.`);
  }
  const entry = { metadata, callback };
  registry.functions.push(entry);
  return new Disposable(() => {
    registry.functions = registry.functions.filter((f) => f !== entry);
  });
}

export function registerHook(name: string, callback: HookCallback): Disposable {
  const list = registry.hooks.get(name) ?? [];
  list.push(callback);
  registry.hooks.set(name, list);
  return new Disposable(() => {
    const current = registry.hooks.get(name) ?? [];
    registry.hooks.set(
      name,
      current.filter((c) => c !== callback),
    );
  });
}

export function log(level: string, category: string, message: string): void {
  registry.logSink(level, category, message);
}

export async function runHooks(name: string, context: Record<string, unknown>): Promise<void> {
  for (const hook of registry.hooks.get(name) ?? []) await hook(context);
}
