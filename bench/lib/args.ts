/** `--flag`, `--key=value` and `--key value` command-line options. */
export class Args {
  private readonly values = new Map<string, string>();

  constructor(argv: string[] = process.argv.slice(2)) {
    for (let i = 0; i < argv.length; i++) {
      const a = argv[i]!;
      if (!a.startsWith('--')) continue;
      const eq = a.indexOf('=');
      if (eq > 0) this.values.set(a.slice(2, eq), a.slice(eq + 1));
      else if (argv[i + 1] !== undefined && !argv[i + 1]!.startsWith('--'))
        this.values.set(a.slice(2), argv[++i]!);
      else this.values.set(a.slice(2), 'true');
    }
  }

  flag(name: string): boolean {
    const v = this.values.get(name);
    return v !== undefined && v !== 'false' && v !== '0';
  }

  num(name: string, fallback: number): number {
    const v = this.values.get(name);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isFinite(n)) throw new Error(`--${name} must be a number (got "${v}")`);
    return n;
  }

  str(name: string, fallback: string): string {
    return this.values.get(name) ?? fallback;
  }

  list(name: string): string[] | undefined {
    const v = this.values.get(name);
    return v === undefined ? undefined : v.split(',').filter(Boolean);
  }
}
