/**
 * A small reader for the Bicep the contract tests check. The Bicep compiler cannot run here (it is
 * downloaded at install time), so the tests read infra/*.bicep as text. This covers the subset
 * infra/ uses: top-level param/var/resource/module/output/targetScope/extension statements,
 * object and array literals, strings (with ${} interpolation and '''multi-line'''), comments,
 * decorators, `if (...)` conditions, and any other expression kept as its source text. Anything
 * else (type, func, import, nested resources) is an error naming the line, so a construct it
 * does not understand fails the tests instead of being skipped silently.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export type BicepValue =
  | { kind: 'string'; value: string; interpolated: boolean }
  | { kind: 'object'; entries: { key: string; value: BicepValue }[] }
  | { kind: 'array'; items: BicepValue[] }
  | { kind: 'expr'; text: string };

export interface BicepParam {
  name: string;
  type: string;
  decorators: string[];
  default?: BicepValue;
}
export interface BicepResource {
  symbol: string;
  type: string;
  apiVersion: string;
  existing: boolean;
  condition?: string;
  body: BicepValue;
}
export interface BicepModule {
  symbol: string;
  path: string;
  condition?: string;
  body: BicepValue;
}
export interface BicepOutput {
  name: string;
  type: string;
  decorators: string[];
  value: BicepValue;
}
export interface BicepFile {
  path: string;
  targetScope?: string;
  extensions: string[];
  params: Map<string, BicepParam>;
  vars: Map<string, BicepValue>;
  resources: BicepResource[];
  modules: BicepModule[];
  outputs: BicepOutput[];
}

export class BicepSyntaxError extends Error {}

class Scanner {
  pos = 0;
  constructor(
    readonly text: string,
    readonly file: string,
  ) {}

  fail(message: string, at = this.pos): never {
    const line = this.text.slice(0, at).split('\n').length;
    throw new BicepSyntaxError(`${this.file}:${line}: ${message}`);
  }
  peek(n = 0): string {
    return this.text[this.pos + n] ?? '';
  }
  startsWith(s: string): boolean {
    return this.text.startsWith(s, this.pos);
  }
  eof(): boolean {
    return this.pos >= this.text.length;
  }

  /** Spaces and comments; newlines too when `newlines`. */
  skip(newlines: boolean): void {
    for (;;) {
      const c = this.peek();
      if (c === ' ' || c === '\t' || c === '\r' || (newlines && c === '\n')) this.pos++;
      else if (this.startsWith('//')) while (!this.eof() && this.peek() !== '\n') this.pos++;
      else if (this.startsWith('/*')) {
        const end = this.text.indexOf('*/', this.pos + 2);
        if (end < 0) this.fail('unterminated comment');
        this.pos = end + 2;
      } else return;
    }
  }

  ident(): string {
    const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(this.text.slice(this.pos, this.pos + 200));
    if (!m) this.fail(`expected a name, found ${JSON.stringify(this.text.slice(this.pos, this.pos + 20))}`);
    this.pos += m[0].length;
    return m[0];
  }

  expect(s: string): void {
    if (!this.startsWith(s)) this.fail(`expected "${s}"`);
    this.pos += s.length;
  }

  /** A string literal; its value keeps `${...}` interpolations as written. */
  string(): { value: string; interpolated: boolean } {
    if (this.startsWith("'''")) {
      const end = this.text.indexOf("'''", this.pos + 3);
      if (end < 0) this.fail('unterminated multi-line string');
      const value = this.text.slice(this.pos + 3, end).replace(/^\r?\n/, '');
      this.pos = end + 3;
      return { value, interpolated: false };
    }
    this.expect("'");
    let value = '';
    let interpolated = false;
    for (;;) {
      const c = this.peek();
      if (this.eof() || c === '\n') this.fail('unterminated string');
      if (c === "'") {
        this.pos++;
        return { value, interpolated };
      }
      if (c === '\\') {
        const e = this.peek(1);
        value += e === 'n' ? '\n' : e === 't' ? '\t' : e === 'r' ? '\r' : e;
        this.pos += 2;
      } else if (this.startsWith('${')) {
        const start = this.pos;
        this.pos += 2;
        this.balanced('}');
        value += this.text.slice(start, this.pos);
        interpolated = true;
      } else {
        value += c;
        this.pos++;
      }
    }
  }

  /** Skips to just past `close`, over nested brackets and strings. */
  balanced(close: string): void {
    const stack = [close];
    while (stack.length) {
      if (this.eof()) this.fail(`unbalanced, expected "${stack[stack.length - 1]}"`);
      const c = this.peek();
      if (c === "'") this.string();
      else if (this.startsWith('//') || this.startsWith('/*')) this.skip(false);
      else if (c === '(' || c === '[' || c === '{') {
        stack.push(c === '(' ? ')' : c === '[' ? ']' : '}');
        this.pos++;
      } else if (c === ')' || c === ']' || c === '}') {
        if (stack.pop() !== c) this.fail(`unexpected "${c}"`);
        this.pos++;
      } else this.pos++;
    }
  }

  /**
   * An expression kept as text: up to a newline, comma or closing bracket at its own depth. A
   * ternary or boolean operator at the end of a line, or at the start of the next, continues it.
   */
  expr(): BicepValue {
    const start = this.pos;
    for (;;) {
      if (this.eof()) break;
      const c = this.peek();
      if (c === "'") this.string();
      else if (c === '(' || c === '[' || c === '{') {
        this.pos++;
        this.balanced(c === '(' ? ')' : c === '[' ? ']' : '}');
      } else if (c === ',' || c === ')' || c === ']' || c === '}') break;
      else if (this.startsWith('//') || this.startsWith('/*')) this.skip(false);
      else if (c === '\n') {
        const sofar = this.text.slice(start, this.pos).trimEnd();
        const rest = this.text.slice(this.pos).replace(/^\s+/, '');
        if (/(\?|:|&&|\|\|)$/.test(sofar) || /^(\?|:|&&|\|\||\.)/.test(rest)) this.pos++;
        else break;
      } else this.pos++;
    }
    const text = this.text
      .slice(start, this.pos)
      .replace(/\/\/[^\n]*/g, '')
      .trim();
    if (!text) this.fail('expected a value');
    return { kind: 'expr', text };
  }

  value(): BicepValue {
    this.skip(false);
    const start = this.pos;
    let v: BicepValue;
    const c = this.peek();
    if (c === '{') v = this.object();
    else if (c === '[' && !/^\[\s*for\b/.test(this.text.slice(this.pos, this.pos + 20))) v = this.array();
    else if (c === "'") v = { kind: 'string', ...this.string() };
    else return this.expr();
    // `{...}.x`, `'a' == b ? ...`: not a plain literal after all; keep the whole as text.
    this.skip(false);
    const next = this.peek();
    if (this.eof() || next === '\n' || next === ',' || next === '}' || next === ']' || next === ')') return v;
    this.pos = start;
    return this.expr();
  }

  object(): BicepValue {
    this.expect('{');
    const entries: { key: string; value: BicepValue }[] = [];
    for (;;) {
      this.skip(true);
      if (this.peek() === '}') {
        this.pos++;
        return { kind: 'object', entries };
      }
      if (this.peek() === '@') this.decorator();
      const key = this.peek() === "'" ? this.string().value : this.ident();
      this.skip(false);
      if (this.peek() !== ':') this.fail(`expected ":" after "${key}" (nested resources are not supported)`);
      this.pos++;
      entries.push({ key, value: this.value() });
      this.skip(false);
      if (this.peek() === ',') this.pos++;
    }
  }

  array(): BicepValue {
    this.expect('[');
    const items: BicepValue[] = [];
    for (;;) {
      this.skip(true);
      if (this.peek() === ']') {
        this.pos++;
        return { kind: 'array', items };
      }
      items.push(this.value());
      this.skip(false);
      if (this.peek() === ',') this.pos++;
    }
  }

  decorator(): string {
    const start = this.pos;
    this.expect('@');
    this.ident();
    if (this.peek() === '(') {
      this.pos++;
      this.balanced(')');
    }
    return this.text.slice(start, this.pos);
  }

  /** `if (condition)` before a resource or module body, if any. */
  condition(): string | undefined {
    this.skip(false);
    if (!/^if\s*\(/.test(this.text.slice(this.pos, this.pos + 10))) return undefined;
    this.pos += 2;
    this.skip(false);
    const start = this.pos + 1;
    this.expect('(');
    this.balanced(')');
    return this.text.slice(start, this.pos - 1).trim();
  }

  restOfLine(): string {
    const start = this.pos;
    while (!this.eof() && this.peek() !== '\n') this.pos++;
    return this.text.slice(start, this.pos).trim();
  }
}

export function parseBicep(text: string, file = 'inline.bicep'): BicepFile {
  const s = new Scanner(text, file);
  const out: BicepFile = {
    path: file,
    extensions: [],
    params: new Map(),
    vars: new Map(),
    resources: [],
    modules: [],
    outputs: [],
  };
  for (;;) {
    s.skip(true);
    if (s.eof()) return out;
    const decorators: string[] = [];
    while (s.peek() === '@') {
      decorators.push(s.decorator());
      s.skip(true);
    }
    const at = s.pos;
    const keyword = s.ident();
    s.skip(false);
    switch (keyword) {
      case 'targetScope': {
        s.expect('=');
        const v = s.value();
        out.targetScope = v.kind === 'string' ? v.value : s.fail('targetScope must be a string', at);
        break;
      }
      case 'extension':
        out.extensions.push(s.restOfLine());
        break;
      case 'param': {
        const name = s.ident();
        s.skip(false);
        const type = /^[^\s=]+/.exec(s.text.slice(s.pos))?.[0] ?? s.fail('expected a type');
        s.pos += type.length;
        s.skip(false);
        let def: BicepValue | undefined;
        if (s.peek() === '=') {
          s.pos++;
          def = s.value();
        }
        out.params.set(name, { name, type, decorators, default: def });
        break;
      }
      case 'var': {
        const name = s.ident();
        s.skip(false);
        s.expect('=');
        out.vars.set(name, s.value());
        break;
      }
      case 'resource': {
        const symbol = s.ident();
        s.skip(false);
        const typeRef = s.string().value;
        const [type, apiVersion] = typeRef.split('@');
        s.skip(false);
        let existing = false;
        if (/^existing\b/.test(s.text.slice(s.pos, s.pos + 9))) {
          existing = true;
          s.pos += 8;
          s.skip(false);
        }
        s.expect('=');
        const condition = s.condition();
        out.resources.push({
          symbol,
          type: type ?? '',
          apiVersion: apiVersion ?? '',
          existing,
          condition,
          body: s.value(),
        });
        break;
      }
      case 'module': {
        const symbol = s.ident();
        s.skip(false);
        const modPath = s.string().value;
        s.skip(false);
        s.expect('=');
        const condition = s.condition();
        out.modules.push({ symbol, path: modPath, condition, body: s.value() });
        break;
      }
      case 'output': {
        const name = s.ident();
        s.skip(false);
        const type = s.ident();
        s.skip(false);
        s.expect('=');
        out.outputs.push({ name, type, decorators, value: s.value() });
        break;
      }
      default:
        s.fail(`unsupported statement "${keyword}"`, at);
    }
  }
}

// ---------- reading values ----------

/** The value at a dotted path of object keys, e.g. `properties.resource.partitionKey`. */
export function get(value: BicepValue | undefined, dotted: string): BicepValue | undefined {
  let v = value;
  for (const key of dotted.split('.')) {
    if (v?.kind !== 'object') return undefined;
    v = v.entries.find((e) => e.key === key)?.value;
  }
  return v;
}

export function keysOf(value: BicepValue | undefined): string[] {
  return value?.kind === 'object' ? value.entries.map((e) => e.key) : [];
}

/** Source-like text of a value (for expressions: as written). */
export function textOf(value: BicepValue | undefined): string {
  if (!value) return '';
  switch (value.kind) {
    case 'string':
      return `'${value.value}'`;
    case 'expr':
      return value.text;
    case 'array':
      return `[${value.items.map(textOf).join(', ')}]`;
    case 'object':
      return `{${value.entries.map((e) => `${e.key}: ${textOf(e.value)}`).join(', ')}}`;
  }
}

/** Names used in a value's expressions and interpolations (not inside plain string text). */
export function identifiersIn(value: BicepValue | undefined): string[] {
  if (!value) return [];
  // String literals inside an expression count only for their interpolations.
  const exprText = (t: string): string[] =>
    (
      t
        .replace(/'((?:[^'\\]|\\.)*)'/g, (_m, inner: string) =>
          [...inner.matchAll(/\$\{([^}]*)\}/g)].map((m) => ` ${m[1] ?? ''} `).join(''),
        )
        .match(/(?<![.\w])[A-Za-z_]\w*/g) ?? []
    ).filter((w) => !['true', 'false', 'null', 'if', 'for', 'in'].includes(w));
  switch (value.kind) {
    case 'string':
      return [...value.value.matchAll(/\$\{([^}]*)\}/g)].flatMap((m) => exprText(m[1] ?? ''));
    case 'expr':
      return exprText(value.text);
    case 'array':
      return value.items.flatMap(identifiersIn);
    case 'object':
      return value.entries.flatMap((e) => identifiersIn(e.value));
  }
}

// ---------- a set of files: infra/main.bicep and the modules it calls ----------

export const INFRA_DIR = path.resolve(__dirname, '../../../infra');

export class BicepProject {
  readonly files = new Map<string, BicepFile>();

  /** `texts`: file path relative to infra/ -> Bicep source. */
  constructor(readonly texts: Map<string, string>) {
    for (const [rel, text] of texts) this.files.set(rel, parseBicep(text, `infra/${rel}`));
  }

  static load(overrides: Record<string, string> = {}): BicepProject {
    const texts = new Map<string, string>();
    const walk = (dir: string) => {
      for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        const full = path.join(dir, entry.name);
        if (entry.isDirectory()) walk(full);
        else if (entry.name.endsWith('.bicep'))
          texts.set(path.relative(INFRA_DIR, full).split(path.sep).join('/'), fs.readFileSync(full, 'utf8'));
      }
    };
    walk(INFRA_DIR);
    for (const [rel, text] of Object.entries(overrides)) texts.set(rel, text);
    return new BicepProject(texts);
  }

  file(rel: string): BicepFile {
    const f = this.files.get(rel);
    if (!f) throw new Error(`infra/${rel} is missing`);
    return f;
  }

  get main(): BicepFile {
    return this.file('main.bicep');
  }

  /** The file a module statement of `from` points at, relative to infra/. */
  modulePath(from: string, mod: BicepModule): string {
    return path.posix.normalize(path.posix.join(path.posix.dirname(from), mod.path));
  }

  /** Every module statement (in any file) that calls `rel`, with the calling file. */
  callersOf(rel: string): { from: string; mod: BicepModule }[] {
    const out: { from: string; mod: BicepModule }[] = [];
    for (const [from, f] of this.files)
      for (const mod of f.modules) if (this.modulePath(from, mod) === rel) out.push({ from, mod });
    return out;
  }

  allResources(): { file: string; resource: BicepResource }[] {
    return [...this.files].flatMap(([file, f]) => f.resources.map((resource) => ({ file, resource })));
  }

  /**
   * Follows a value back to where it is defined: a var to its value, a module param to the
   * argument its (single) caller passes, a top-level param to its default. Stops at anything
   * else (a resource property, a function call) and returns it with the file it is in.
   */
  trace(
    file: string,
    value: BicepValue | undefined,
    depth = 0,
  ): { file: string; value: BicepValue | undefined } {
    if (depth > 20 || value?.kind !== 'expr') return { file, value };
    const f = this.file(file);
    const name = value.text;
    const asString = /^string\((\w+)\)$/.exec(name);
    if (asString) return this.trace(file, { kind: 'expr', text: asString[1] ?? '' }, depth + 1);
    if (f.vars.has(name)) return this.trace(file, f.vars.get(name), depth + 1);
    const param = f.params.get(name);
    if (param) {
      const callers = this.callersOf(file);
      if (callers.length === 1) {
        const [{ from, mod }] = callers as [{ from: string; mod: BicepModule }];
        const arg = get(mod.body, `params.${name}`);
        if (arg) return this.trace(from, arg, depth + 1);
      }
      if (param.default) return this.trace(file, param.default, depth + 1);
    }
    return { file, value };
  }

  /** The literal a value comes down to (string, number or boolean), if it is one. */
  literal(file: string, value: BicepValue | undefined): string | undefined {
    const { value: v } = this.trace(file, value);
    if (v?.kind === 'string' && !v.interpolated) return v.value;
    if (v?.kind === 'expr' && /^(-?\d+|true|false)$/.test(v.text)) return v.text;
    return undefined;
  }

  /** True when a value is computed from a @secure() param, through vars and module params. */
  dependsOnSecure(file: string, value: BicepValue | undefined, seen = new Set<string>()): boolean {
    const f = this.file(file);
    for (const name of identifiersIn(value)) {
      const key = `${file}#${name}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const v = f.vars.get(name);
      if (v && this.dependsOnSecure(file, v, seen)) return true;
      const p = f.params.get(name);
      if (!p) continue;
      if (p.decorators.some((d) => d.startsWith('@secure'))) return true;
      for (const { from, mod } of this.callersOf(file))
        if (this.dependsOnSecure(from, get(mod.body, `params.${name}`), seen)) return true;
    }
    return false;
  }
}

/**
 * Replaces exactly one occurrence of `from` in one file of a project's texts (a test mutation).
 * Throws when `from` is absent or ambiguous, so a mutation can never be a silent no-op.
 */
export function mutated(project: BicepProject, rel: string, from: string | RegExp, to: string): BicepProject {
  const text = project.texts.get(rel);
  if (text === undefined) throw new Error(`infra/${rel} is missing`);
  const re = typeof from === 'string' ? new RegExp(from.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'g') : from;
  const hits = [...text.matchAll(new RegExp(re.source, re.flags.includes('g') ? re.flags : re.flags + 'g'))];
  if (hits.length !== 1)
    throw new Error(`mutation of infra/${rel}: expected one match of ${re}, found ${hits.length}`);
  const hit = hits[0] as RegExpMatchArray;
  const texts = new Map(project.texts);
  texts.set(rel, text.slice(0, hit.index) + to + text.slice((hit.index ?? 0) + hit[0].length));
  return new BicepProject(texts);
}
