/**
 * The OData subset the Web PubSub REST API accepts in `filter` (e.g.
 * `userId ne 'bob' and not('vip' in groups)`): `eq`/`ne`/`lt`/`le`/`gt`/`ge` on `userId` and
 * `connectionId`, `'<group>' in groups`, `and`, `or`, `not`, parentheses, string literals and `null`.
 */

export interface FilterTarget {
  readonly id: string;
  readonly userId: string | undefined;
  readonly groups: ReadonlySet<string>;
}

export type Predicate = (target: FilterTarget) => boolean;

type Token =
  | { kind: 'str'; value: string }
  | { kind: 'word'; value: string }
  | { kind: 'null' }
  | { kind: '(' | ')' | ',' };

export class FilterSyntaxError extends Error {}

export function compileFilter(filter: string): Predicate {
  const tokens = tokenize(filter);
  let pos = 0;
  const peek = (): Token | undefined => tokens[pos];
  const isWord = (t: Token | undefined, w: string): boolean =>
    t?.kind === 'word' && t.value.toLowerCase() === w;
  const expect = (kind: Token['kind']): Token => {
    const t = tokens[pos++];
    if (t === undefined || t.kind !== kind) throw new FilterSyntaxError(`expected ${kind} in filter`);
    return t;
  };

  const parseOr = (): Predicate => {
    let left = parseAnd();
    while (isWord(peek(), 'or')) {
      pos++;
      const l = left;
      const r = parseAnd();
      left = (t) => l(t) || r(t);
    }
    return left;
  };
  const parseAnd = (): Predicate => {
    let left = parseUnary();
    while (isWord(peek(), 'and')) {
      pos++;
      const l = left;
      const r = parseUnary();
      left = (t) => l(t) && r(t);
    }
    return left;
  };
  const parseUnary = (): Predicate => {
    if (isWord(peek(), 'not')) {
      pos++;
      const inner = parseUnary();
      return (t) => !inner(t);
    }
    if (peek()?.kind === '(') {
      pos++;
      const inner = parseOr();
      expect(')');
      return inner;
    }
    return parseComparison();
  };
  const parseValue = (): ((t: FilterTarget) => string | null) | 'groups' => {
    const t = tokens[pos++];
    if (t === undefined) throw new FilterSyntaxError('unexpected end of filter');
    if (t.kind === 'str') {
      const v = t.value;
      return () => v;
    }
    if (t.kind === 'null') return () => null;
    if (t.kind === 'word') {
      const name = t.value.toLowerCase();
      if (name === 'userid') return (x) => x.userId ?? null;
      if (name === 'connectionid') return (x) => x.id;
      if (name === 'groups') return 'groups';
    }
    throw new FilterSyntaxError(`unsupported operand in filter`);
  };
  const parseComparison = (): Predicate => {
    const left = parseValue();
    const op = tokens[pos++];
    if (op?.kind !== 'word') throw new FilterSyntaxError('expected an operator in filter');
    const name = op.value.toLowerCase();
    const right = parseValue();
    if (name === 'in') {
      if (left === 'groups' || right !== 'groups')
        throw new FilterSyntaxError("'in' needs a group and 'groups'");
      return (t) => {
        const g = left(t);
        return g !== null && t.groups.has(g);
      };
    }
    if (left === 'groups' || right === 'groups') throw new FilterSyntaxError("'groups' only works with 'in'");
    const compare = COMPARATORS[name];
    if (compare === undefined) throw new FilterSyntaxError(`unsupported operator '${op.value}' in filter`);
    return (t) => compare(left(t), right(t));
  };

  const predicate = parseOr();
  if (pos !== tokens.length) throw new FilterSyntaxError('unexpected trailing input in filter');
  return predicate;
}

type Comparator = (a: string | null, b: string | null) => boolean;
const COMPARATORS: Record<string, Comparator | undefined> = {
  eq: (a, b) => a === b,
  ne: (a, b) => a !== b,
  lt: (a, b) => a !== null && b !== null && a < b,
  le: (a, b) => a !== null && b !== null && a <= b,
  gt: (a, b) => a !== null && b !== null && a > b,
  ge: (a, b) => a !== null && b !== null && a >= b,
};

function tokenize(input: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < input.length) {
    const c = input.charAt(i);
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
    } else if (c === '(' || c === ')' || c === ',') {
      tokens.push({ kind: c });
      i++;
    } else if (c === "'") {
      // OData escapes a quote inside a literal by doubling it.
      let value = '';
      i++;
      for (;;) {
        if (i >= input.length) throw new FilterSyntaxError('unterminated string in filter');
        const d = input.charAt(i);
        if (d === "'") {
          if (input.charAt(i + 1) === "'") {
            value += "'";
            i += 2;
            continue;
          }
          i++;
          break;
        }
        value += d;
        i++;
      }
      tokens.push({ kind: 'str', value });
    } else if (/[A-Za-z_]/.test(c)) {
      let j = i + 1;
      while (j < input.length && /[A-Za-z0-9_]/.test(input.charAt(j))) j++;
      const word = input.slice(i, j);
      tokens.push(word.toLowerCase() === 'null' ? { kind: 'null' } : { kind: 'word', value: word });
      i = j;
    } else {
      throw new FilterSyntaxError(`unexpected character '${c}' in filter`);
    }
  }
  return tokens;
}
