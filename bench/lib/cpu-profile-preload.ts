/**
 * `--require` preload that CPU-profiles a service process (`--cpu-prof` itself is not allowed in
 * NODE_OPTIONS, and local/stack.ts starts the services for us). Active only when
 * BENCH_CPU_PROF_DIR is set; writes <dir>/<script>-<pid>.cpuprofile when the process exits.
 */
import * as fs from 'node:fs';
import { Session } from 'node:inspector';
import * as path from 'node:path';

const dir = process.env.BENCH_CPU_PROF_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', {
    interval: Number(process.env.BENCH_CPU_PROF_INTERVAL_US ?? 500),
  });
  session.post('Profiler.start');
  const script = path.basename(path.dirname(process.argv[1] ?? 'node'));
  process.on('exit', () => {
    // Same-thread inspector sessions answer synchronously, so this completes inside 'exit'.
    session.post('Profiler.stop', (err, result) => {
      if (err || !result) return;
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(path.join(dir, `${script}-${process.pid}.cpuprofile`), JSON.stringify(result.profile));
    });
  });
}
