/**
 * Route templates as the Functions host understands them: literal segments (case-insensitive),
 * `{name}` parameters, optional `{name?}`, catch-all `{*name}`, and `:constraint` suffixes
 * (`int`, `alpha`, `guid`; others are accepted without checking).
 */
export interface RouteMatch {
  params: Record<string, string>;
}

interface Segment {
  literal?: string;
  param?: string;
  optional?: boolean;
  catchAll?: boolean;
  constraint?: string;
}

const CONSTRAINTS: Record<string, RegExp> = {
  int: /^-?\d+$/,
  alpha: /^[a-z]+$/i,
  guid: /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i,
};

export class RouteTemplate {
  private readonly segments: Segment[];
  /** Higher is more specific: literal segments beat parameters, so `meetings/x` wins over `meetings/{id}`. */
  readonly specificity: number;

  constructor(readonly template: string) {
    this.segments = template
      .split('/')
      .filter((s) => s.length > 0)
      .map((s) => {
        const m = /^\{(\*)?([A-Za-z_][A-Za-z0-9_]*)(?::([a-z]+)(?:\([^)]*\))?)?(\?)?\}$/.exec(s);
        if (!m) return { literal: s.toLowerCase() };
        return { param: m[2], catchAll: m[1] === '*', constraint: m[3], optional: m[4] === '?' };
      });
    this.specificity = this.segments.reduce((n, s) => n * 3 + (s.literal ? 2 : s.catchAll ? 0 : 1), 1);
  }

  match(pathSegments: string[]): RouteMatch | undefined {
    const params: Record<string, string> = {};
    let i = 0;
    for (const seg of this.segments) {
      if (seg.catchAll && seg.param) {
        params[seg.param] = pathSegments.slice(i).join('/');
        return { params };
      }
      const value = pathSegments[i];
      if (value === undefined) {
        if (seg.optional) continue;
        return undefined;
      }
      if (seg.literal !== undefined) {
        if (value.toLowerCase() !== seg.literal) return undefined;
      } else if (seg.param) {
        const constraint = seg.constraint ? CONSTRAINTS[seg.constraint] : undefined;
        if (constraint && !constraint.test(value)) return undefined;
        params[seg.param] = value;
      }
      i++;
    }
    return i === pathSegments.length ? { params } : undefined;
  }
}

/** Splits a URL path into decoded segments; undefined when the path is not valid percent-encoding. */
export function splitPath(pathname: string): string[] | undefined {
  try {
    return pathname
      .split('/')
      .filter((s) => s.length > 0)
      .map((s) => decodeURIComponent(s));
  } catch {
    return undefined;
  }
}
