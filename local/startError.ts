/**
 * What a local service prints when it cannot start: a port already in use names the setting that
 * moves it, instead of a bare `listen EADDRINUSE`.
 */
export function startErrorText(err: unknown, portSetting: string): string {
  const e = err as NodeJS.ErrnoException & { port?: number };
  if (e?.code === 'EADDRINUSE') {
    return `port ${e.port ?? '?'} is already in use: set ${portSetting} to a free port (0 picks any)`;
  }
  return err instanceof Error ? err.message : String(err);
}
