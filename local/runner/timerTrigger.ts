/**
 * Timer triggers: six-field NCRONTAB schedules (`sec min hour day month day-of-week`, with `*`,
 * lists, ranges and steps) or a TimeSpan (`hh:mm:ss`), plus runOnStartup. Times are UTC.
 */
import type { RegisteredFunction } from './functionsCore';
import { invoke, triggerOf } from './invoke';

type Field = Set<number>;

/** Node's setTimeout limit (2^31 - 1 ms); longer delays fire immediately. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

function parseField(expr: string, min: number, max: number): Field {
  const values = new Set<number>();
  for (const part of expr.split(',')) {
    const [range = '*', stepText] = part.split('/');
    const step = stepText === undefined ? 1 : Number(stepText);
    let lo = min;
    let hi = max;
    if (range !== '*') {
      const [a, b] = range.split('-');
      lo = Number(a);
      hi = b === undefined ? (stepText === undefined ? lo : max) : Number(b);
    }
    if (![lo, hi, step].every(Number.isInteger) || lo < min || hi > max || step < 1) {
      throw new Error(`invalid cron field "${expr}"`);
    }
    for (let v = lo; v <= hi; v += step) values.add(v);
  }
  return values;
}

export class Schedule {
  private readonly cron?: Field[];
  private readonly intervalMs?: number;

  constructor(readonly expression: string) {
    const span = /^(\d+):(\d{2}):(\d{2})$/.exec(expression.trim());
    if (span) {
      this.intervalMs = (Number(span[1]) * 3600 + Number(span[2]) * 60 + Number(span[3])) * 1000;
      if (this.intervalMs <= 0) throw new Error(`invalid TimeSpan schedule "${expression}"`);
      return;
    }
    const parts = expression.trim().split(/\s+/);
    if (parts.length !== 6)
      throw new Error(`schedule "${expression}" must have 6 NCRONTAB fields or be hh:mm:ss`);
    const ranges: Array<[number, number]> = [
      [0, 59],
      [0, 59],
      [0, 23],
      [1, 31],
      [1, 12],
      [0, 6],
    ];
    this.cron = parts.map((p, i) => parseField(p, ranges[i]![0], ranges[i]![1]));
  }

  /** The first occurrence strictly after `from`. */
  next(from: Date): Date {
    if (this.intervalMs) return new Date(from.getTime() + this.intervalMs);
    const [sec, min, hour, day, month, dow] = this.cron!;
    const t = new Date(Math.floor(from.getTime() / 1000) * 1000 + 1000);
    // Skip whole months, days, hours and minutes that cannot match; bounded to five years.
    const limit = from.getTime() + 5 * 366 * 86_400_000;
    while (t.getTime() <= limit) {
      if (!month!.has(t.getUTCMonth() + 1)) {
        t.setUTCMonth(t.getUTCMonth() + 1, 1);
        t.setUTCHours(0, 0, 0, 0);
      } else if (!day!.has(t.getUTCDate()) || !dow!.has(t.getUTCDay())) {
        t.setUTCDate(t.getUTCDate() + 1);
        t.setUTCHours(0, 0, 0, 0);
      } else if (!hour!.has(t.getUTCHours())) {
        t.setUTCHours(t.getUTCHours() + 1, 0, 0, 0);
      } else if (!min!.has(t.getUTCMinutes())) {
        t.setUTCMinutes(t.getUTCMinutes() + 1, 0, 0);
      } else if (!sec!.has(t.getUTCSeconds())) {
        t.setUTCSeconds(t.getUTCSeconds() + 1, 0);
      } else {
        return t;
      }
    }
    throw new Error(`schedule "${this.expression}" never fires`);
  }
}

export class TimerTrigger {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private stopped = false;
  private last?: Date;
  private readonly schedule: Schedule;
  readonly description: string;

  constructor(
    private readonly fn: RegisteredFunction,
    private readonly log: (message: string) => void,
  ) {
    const trigger = triggerOf(fn);
    this.schedule = new Schedule(String(trigger.schedule));
    this.description = `timerTrigger "${this.schedule.expression}"`;
    this.bindingName = trigger.name;
    this.runOnStartup = trigger.runOnStartup === true;
  }
  private readonly bindingName: string;
  private readonly runOnStartup: boolean;

  start(): void {
    if (this.runOnStartup) this.fire(false);
    this.arm();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  private arm(next = this.schedule.next(new Date())): void {
    if (this.stopped) return;
    const wait = next.getTime() - Date.now();
    if (wait > MAX_TIMEOUT_MS) {
      // setTimeout cannot wait longer than ~24.8 days; wake up part way and wait again.
      this.timer = setTimeout(() => this.arm(next), MAX_TIMEOUT_MS);
      return;
    }
    this.timer = setTimeout(() => {
      // Skip a tick while the previous run is still going, as the host's singleton lock does.
      if (!this.running) this.fire(Date.now() - next.getTime() > 1000);
      this.arm();
    }, wait);
  }

  private fire(isPastDue: boolean): void {
    const now = new Date();
    const timer = {
      Schedule: { AdjustForDST: true },
      ScheduleStatus: {
        Last: (this.last ?? now).toISOString(),
        Next: this.schedule.next(now).toISOString(),
        LastUpdated: now.toISOString(),
      },
      IsPastDue: isPastDue,
    };
    this.last = now;
    this.running = invoke(this.fn, {
      inputData: [{ name: this.bindingName, data: { json: JSON.stringify(timer) } }],
      triggerMetadata: {},
    })
      .then(() => undefined)
      .catch((err: unknown) => {
        this.log(
          `${this.fn.metadata.name}: timer run failed: ${err instanceof Error ? err.message : String(err)}`,
        );
      })
      .finally(() => {
        this.running = undefined;
      });
  }
}
