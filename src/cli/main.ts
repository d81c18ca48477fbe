// `ctscope` command line: subcommand dispatch, help, and the one place where
// errors become exit codes. Exit codes: 0 ok, 1 runtime failure (a kernel
// that refuses, a file that cannot be read), 2 usage error.

import { UsageError } from './args.js';
import { UserError } from '../errors.js';
import { VERSION } from '../version.js';

const HELP = `ctscope ${VERSION} — who is filling the conntrack table, how fast, and whose packets are dropped

Usage: ctscope <command> [options]

Commands:
  run       the daemon: eBPF and ctnetlink sources, HTTP API and /metrics
            --listen HOST:PORT (default 127.0.0.1:9640)  --record FILE
            --hooks auto|fentry|kprobe|netlink  --ingress SPEC  --max-flows N
            --metrics-top-k K  --enable-conntrack-accounting
  start     what 'npm start' runs: 'run' where this kernel can host the daemon,
            otherwise a replay of the bundled sample capture, served the same way
  record    record the live record stream to a .ctcap file
            -o FILE [--duration S] [--rotate-mb N]
  replay    analyse a .ctcap file or 'conntrack -E' / 'conntrack -L' text
            FILE [--report json|text] [--serve [--listen HOST:PORT]] [--speed X|max]
            [--what-if 'tcp_timeout_time_wait=30,udp_timeout=10,max=65536']
  doctor    what this kernel allows and which hook each capability gets [--json]
  top       a running daemon's view in a terminal: table, forecast, sources, top
            allocators, dropped and holders [--url URL] [--interval S] [--once]
  watch     a running daemon's events as lines: level changes, drops by source,
            advice [--url URL] [-o json|text] [--types level,drops,advice,tick]

Run 'ctscope <command> --help' for a command's options.
`;

type Command = (argv: string[]) => Promise<number>;

const COMMANDS: Record<string, () => Promise<Command>> = {
  run: async () => (await import('./commands/run.js')).runCommand,
  start: async () => (await import('./commands/run.js')).startCommand,
  record: async () => (await import('./commands/record.js')).recordCommand,
  replay: async () => (await import('./commands/replay.js')).replayCommand,
  doctor: async () => (await import('./commands/doctor.js')).doctorCommand,
  top: async () => (await import('./commands/top.js')).topCommand,
  watch: async () => (await import('./commands/watch.js')).watchCommand,
};

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    process.stdout.write(HELP);
    return cmd === undefined ? 2 : 0;
  }
  if (cmd === '--version' || cmd === '-V') {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  const load = COMMANDS[cmd];
  if (!load) {
    process.stderr.write(`ctscope: unknown command '${cmd}'\n\n${HELP}`);
    return 2;
  }
  try {
    return await (await load())(rest);
  } catch (e) {
    const f = failureOf(e, cmd);
    process.stderr.write(f.text);
    return f.code;
  }
}

/**
 * What the command line prints and exits with when `cmd` threw `e`: usage
 * errors exit 2 with a pointer to --help; errors we raise on purpose carry
 * a sentence for the operator and their exit code; anything else is a bug, and only
 * then is the stack worth printing (the fuzz harness holds every input to
 * never reaching that branch).
 */
export function failureOf(e: unknown, cmd: string): { code: number; text: string; internal: boolean } {
  if (e instanceof UsageError) {
    return { code: 2, text: `ctscope ${e.command ?? cmd}: ${e.message}\nRun 'ctscope ${cmd} --help' for usage.\n`, internal: false };
  }
  // An error an operator can cause is a UserError with a sentence for them
  // (src/errors.ts); anything else is a bug, and only then is the stack worth printing.
  if (e instanceof UserError) return { code: e.exitCode, text: `ctscope ${cmd}: ${e.message}\n`, internal: false };
  const err = e as Error | undefined;
  return { code: 1, text: `ctscope ${cmd}: internal error: ${err?.stack ?? err?.message ?? String(e)}\n`, internal: true };
}
