// The operator's stop: SIGINT (Ctrl-C) or SIGTERM (systemd, kill), whichever
// comes first; both handlers go once one fires, so a second Ctrl-C during a
// slow shutdown gets node's default (exit) rather than being swallowed.

export function untilSignal(): Promise<string> {
  return new Promise((resolve) => {
    const on = (sig: string) => () => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      resolve(sig);
    };
    const onInt = on('SIGINT');
    const onTerm = on('SIGTERM');
    process.once('SIGINT', onInt);
    process.once('SIGTERM', onTerm);
  });
}
