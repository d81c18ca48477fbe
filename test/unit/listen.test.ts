// Where the API listens: each listen failure in its own words (issue 17:
// EADDRNOTAVAIL was reported as "another daemon running?"), and a warning
// when it is served beyond this machine. The failures are real: a port held
// by another socket, an address no interface has.

import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { exposureWarning, isLoopback, listenFailure } from '../../src/app/listen.js';
import { replayCommand } from '../../src/cli/commands/replay.js';

const sample = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../share/sample.ctcap');

describe('listen failures and exposure', () => {
  it.each([
    ['EADDRINUSE', /the port is in use \(another ctscope running\? choose another --listen\)/],
    ['EADDRNOTAVAIL', /no interface of this machine has the address 192\.0\.2\.1/],
    ['EACCES', /ports below 1024 need root or CAP_NET_BIND_SERVICE/],
  ])('%s', (code, re) => {
    const e = listenFailure({ host: '192.0.2.1', port: 80 }, Object.assign(new Error('x'), { code }));
    expect(e?.message).toMatch(re);
    expect(e?.message).toMatch(/^cannot listen on 192\.0\.2\.1:80: /);
  });

  it('leaves other errors alone', () => {
    expect(listenFailure({ host: '127.0.0.1', port: 1 }, new Error('boom'))).toBeNull();
  });

  it.each([
    ['127.0.0.1', true],
    ['127.1.2.3', true],
    ['::1', true],
    ['localhost', true],
    ['::ffff:127.0.0.1', true],
    ['0.0.0.0', false],
    ['::', false],
    ['10.0.0.5', false],
    ['fd00::1', false],
  ])('%s is loopback: %s', (host, loop) => {
    expect(isLoopback(host)).toBe(loop);
    expect(exposureWarning({ host, port: 9640 }) === null).toBe(loop);
  });

  it('the warning is one line', () => {
    const w = exposureWarning({ host: '0.0.0.0', port: 9640 })!;
    expect(w).toMatch(/^ctscope: warning: listening on 0\.0\.0\.0:9640 serves the API .* without authentication/);
    expect(w.trim().split('\n')).toHaveLength(1);
  });
});

describe('replay --serve on an address it cannot have', () => {
  const run = async (args: string[]) => {
    let err = '';
    const code = await replayCommand(args, { out: () => undefined, err: (s) => (err += s) });
    return { code, err };
  };

  it('an address no interface has: exit 1 with that reason', async () => {
    const r = await run([sample, '--serve', '--listen', '192.0.2.1:19641', '--insecure-listen']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/cannot listen on 192\.0\.2\.1:19641: no interface of this machine has the address/);
  });

  it('a port in use: exit 1 with that reason', async () => {
    const holder = net.createServer();
    await new Promise<void>((res) => holder.listen(0, '127.0.0.1', () => res()));
    const port = (holder.address() as net.AddressInfo).port;
    try {
      const r = await run([sample, '--serve', '--listen', `127.0.0.1:${port}`]);
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/the port is in use/);
    } finally {
      holder.close();
    }
  });
});
