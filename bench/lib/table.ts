/** A plain-text table (and the same rows as Markdown for docs/benchmarks.md). */
export type Row = string[];

export function renderTable(header: Row, rows: Row[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: Row) => r.map((c, i) => (c ?? '').padEnd(widths[i]!)).join(' │ ');
  const rule = widths.map((w) => '─'.repeat(w)).join('─┼─');
  return [line(header), rule, ...rows.map((r) => (r.length === 1 ? `${r[0]}` : line(r)))].join('\n');
}

export function renderMarkdown(header: Row, rows: Row[]): string {
  const esc = (c: string) => (c ?? '').replace(/\|/g, '\\|');
  return [
    `| ${header.map(esc).join(' | ')} |`,
    `| ${header.map(() => '---').join(' | ')} |`,
    ...rows.map((r) =>
      r.length === 1
        ? `| **${esc(r[0]!)}** |${' |'.repeat(header.length - 1)}`
        : `| ${r.map(esc).join(' | ')} |`,
    ),
  ].join('\n');
}
