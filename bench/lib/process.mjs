// What the benchmarks that run a daemon share: a free loopback port for its
// API, and its threads and open descriptors.
import fs from 'node:fs';
import net from 'node:net';

/** A TCP port free on 127.0.0.1 right now. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (a && typeof a === 'object' ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

/** Threads and open descriptors of a process (null once it is gone). */
export function threadsAndFds(pid) {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    return { threads: Number(/^Threads:\s+(\d+)/m.exec(status)[1]), fds: fs.readdirSync(`/proc/${pid}/fd`).length };
  } catch {
    return null;
  }
}
