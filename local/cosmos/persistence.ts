import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * On-disk layout of a data directory:
 *   snapshot.jsonl  header line {format, gen} then records that rebuild the whole state
 *   wal-<gen>.jsonl records appended since that snapshot, one JSON line per committed write
 *   LOCK            pid of the process that owns the directory
 *
 * Each write is one `writeSync` of one line, done before the HTTP response is sent, so a committed
 * write survives the process being killed (the OS holds it even if the process dies; `fsync` is done
 * on close and on snapshot, not per write, so an OS crash can lose the last writes). A torn last
 * line (process killed inside a write) is ignored on load. Compaction writes a new snapshot to a
 * temporary file, fsyncs it, renames it over the old one and only then switches to a new WAL
 * generation, so a crash at any point leaves either the old or the new pair.
 */
export class DiskLog {
  private fd: number | undefined;
  private gen = 0;
  private bytes = 0;
  private snapshot = 0;
  private readonly snapshotPath: string;
  private readonly lockPath: string;

  private static readonly locked = new Set<string>();

  constructor(private readonly dir: string) {
    this.snapshotPath = path.join(dir, 'snapshot.jsonl');
    this.lockPath = path.join(dir, 'LOCK');
  }

  get walBytes(): number {
    return this.bytes;
  }

  /** Size of the last snapshot written. */
  get snapshotBytes(): number {
    return this.snapshot;
  }

  /** Takes the directory lock and feeds every stored record, oldest first, to `apply`. */
  load(apply: (record: unknown) => void): void {
    fs.mkdirSync(this.dir, { recursive: true });
    this.lock();
    if (fs.existsSync(this.snapshotPath)) {
      const lines = readLines(this.snapshotPath);
      const header = lines.shift() as { format?: number; gen?: number } | undefined;
      if (!header || header.format !== 1 || typeof header.gen !== 'number') {
        throw new Error(`embedded cosmos: unreadable snapshot ${this.snapshotPath}`);
      }
      this.gen = header.gen;
      for (const record of lines) apply(record);
    }
    const wal = this.walPath(this.gen);
    if (fs.existsSync(wal)) for (const record of readLines(wal)) apply(record);
  }

  /** Writes `records` as the new snapshot and starts an empty WAL after it. */
  rewrite(records: Iterable<unknown>): void {
    const nextGen = this.gen + 1;
    const tmp = `${this.snapshotPath}.tmp`;
    const fd = fs.openSync(tmp, 'w');
    try {
      let written = 0;
      let chunk = `${JSON.stringify({ format: 1, gen: nextGen })}\n`;
      for (const record of records) {
        chunk += `${JSON.stringify(record)}\n`;
        if (chunk.length > 1 << 20) {
          written += fs.writeSync(fd, chunk);
          chunk = '';
        }
      }
      written += fs.writeSync(fd, chunk);
      this.snapshot = written;
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, this.snapshotPath);
    this.fsyncDir();
    const oldFd = this.fd;
    this.gen = nextGen;
    this.fd = fs.openSync(this.walPath(nextGen), 'a');
    this.bytes = 0;
    if (oldFd !== undefined) fs.closeSync(oldFd);
    // Every WAL other than the current one is obsolete (including leftovers of an interrupted run).
    for (const name of fs.readdirSync(this.dir)) {
      const m = /^wal-(\d+)\.jsonl$/.exec(name);
      if (m && Number(m[1]) !== nextGen) fs.rmSync(path.join(this.dir, name), { force: true });
    }
  }

  append(record: unknown): void {
    if (this.fd === undefined) throw new Error('embedded cosmos: disk log is not open');
    const line = `${JSON.stringify(record)}\n`;
    this.bytes += fs.writeSync(this.fd, line);
  }

  close(): void {
    if (this.fd !== undefined) {
      fs.fsyncSync(this.fd);
      fs.closeSync(this.fd);
      this.fd = undefined;
    }
    this.unlock();
  }

  private walPath(gen: number): string {
    return path.join(this.dir, `wal-${gen}.jsonl`);
  }

  private fsyncDir(): void {
    try {
      const fd = fs.openSync(this.dir, 'r');
      try {
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
    } catch {
      // Not supported on every platform; the rename is still atomic.
    }
  }

  private lock(): void {
    const key = path.resolve(this.dir);
    if (DiskLog.locked.has(key))
      throw new Error(`embedded cosmos: ${this.dir} is already open in this process`);
    try {
      const pid = Number(fs.readFileSync(this.lockPath, 'utf8').trim());
      if (pid && pid !== process.pid && isAlive(pid)) {
        throw new Error(`embedded cosmos: ${this.dir} is in use by process ${pid}`);
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    fs.writeFileSync(this.lockPath, String(process.pid));
    DiskLog.locked.add(key);
  }

  private unlock(): void {
    const key = path.resolve(this.dir);
    if (!DiskLog.locked.delete(key)) return;
    fs.rmSync(this.lockPath, { force: true });
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readLines(file: string): unknown[] {
  const text = fs.readFileSync(file, 'utf8');
  const out: unknown[] = [];
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    const complete = end !== -1;
    if (!complete) end = text.length;
    const line = text.slice(start, end);
    start = end + 1;
    if (!line.trim()) continue;
    try {
      out.push(JSON.parse(line));
    } catch (err) {
      // Only an unterminated last line can be torn by a kill mid-write; anything else is corruption.
      if (complete) throw new Error(`embedded cosmos: corrupt record in ${file}: ${(err as Error).message}`);
      console.warn(`embedded cosmos: ignoring torn last record in ${file}`);
    }
  }
  return out;
}
