// The process's own figures, under the names exporters use (client_golang's
// and prom-client's `process_*`, `nodejs_*`), so a dashboard built for any
// exporter reads ctscope too: CPU, resident and virtual memory, open and
// maximum descriptors, threads (each followed namespace used to cost one),
// heap, and event-loop lag (a stalled loop is a stale API and a growing
// record queue).

import fs from 'node:fs';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { Exposition } from './exposition.js';

/** Lag figures are those of the last completed window (the current one before the first completes). */
const LAG_WINDOW_MS = 60_000;

interface Lag {
  p50: number;
  p99: number;
  max: number;
}

function readStatusField(status: string, field: string): number | null {
  const m = new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(status);
  return m ? Number(m[1]) : null;
}

export class ProcessMetrics {
  // A timer every 100 ms: a stall of the loop still shows whole in the delay
  // of the next firing, and the idle daemon wakes 10 times a second for it,
  // not 100 (at a 10 ms resolution this timer was most of the main thread's
  // wakeups, a third of its idle CPU on this project's machine).
  private readonly loop: IntervalHistogram = monitorEventLoopDelay({ resolution: 100 });
  private last: Lag | null = null;
  private readonly timer: NodeJS.Timeout;
  private readonly startTime = Date.now() / 1000 - process.uptime();

  constructor() {
    this.loop.enable();
    this.timer = setInterval(() => {
      this.last = this.lag();
      this.loop.reset();
    }, LAG_WINDOW_MS);
    this.timer.unref();
  }

  private lag(): Lag | null {
    if (this.loop.count === 0) return null;
    return { p50: this.loop.percentile(50) / 1e9, p99: this.loop.percentile(99) / 1e9, max: this.loop.max / 1e9 };
  }

  stop(): void {
    clearInterval(this.timer);
    this.loop.disable();
  }

  write(out: Exposition): void {
    const cpu = process.cpuUsage();
    out.family('process_cpu_seconds_total', 'counter', 'User and system CPU time spent by the process (every thread), in seconds.');
    out.sample('process_cpu_seconds_total', (cpu.user + cpu.system) / 1e6);
    out.family('process_resident_memory_bytes', 'gauge', 'Resident memory size in bytes.');
    out.sample('process_resident_memory_bytes', process.memoryUsage.rss());
    out.family('process_start_time_seconds', 'gauge', 'Start time of the process since the Unix epoch, in seconds.');
    out.sample('process_start_time_seconds', Math.round(this.startTime));
    let status = '';
    try {
      status = fs.readFileSync('/proc/self/status', 'utf8');
    } catch {
      /* not Linux: the /proc figures are left out */
    }
    const vm = readStatusField(status, 'VmSize');
    if (vm !== null) {
      out.family('process_virtual_memory_bytes', 'gauge', 'Virtual memory size in bytes.');
      out.sample('process_virtual_memory_bytes', vm * 1024);
    }
    const threads = readStatusField(status, 'Threads');
    if (threads !== null) {
      out.family('process_threads', 'gauge', 'Threads of the process (the runtime\'s, the reader threads\', the helpers\').');
      out.sample('process_threads', threads);
    }
    try {
      const fds = fs.readdirSync('/proc/self/fd').length - 1; // the directory's own descriptor
      out.family('process_open_fds', 'gauge', 'Open file descriptors.');
      out.sample('process_open_fds', fds);
    } catch {
      /* no /proc */
    }
    try {
      const m = /^Max open files\s+(\d+)/m.exec(fs.readFileSync('/proc/self/limits', 'utf8'));
      if (m) {
        out.family('process_max_fds', 'gauge', 'Maximum number of open file descriptors.');
        out.sample('process_max_fds', Number(m[1]));
      }
    } catch {
      /* no /proc */
    }
    const mem = process.memoryUsage();
    out.family('nodejs_heap_size_used_bytes', 'gauge', 'V8 heap in use, in bytes.');
    out.sample('nodejs_heap_size_used_bytes', mem.heapUsed);
    out.family('nodejs_heap_size_total_bytes', 'gauge', 'V8 heap reserved, in bytes.');
    out.sample('nodejs_heap_size_total_bytes', mem.heapTotal);
    out.family('nodejs_external_memory_bytes', 'gauge', 'Memory of buffers and native objects held by JavaScript, in bytes.');
    out.sample('nodejs_external_memory_bytes', mem.external);
    const lag = this.last ?? this.lag();
    if (lag) {
      for (const [k, what] of [['p50', 'Median'], ['p99', '99th percentile of the'], ['max', 'Largest']] as const) {
        const name = `nodejs_eventloop_lag_${k}_seconds`;
        out.family(name, 'gauge', `${what} event-loop delay over the last minute, in seconds.`);
        out.sample(name, lag[k]);
      }
    }
  }
}
