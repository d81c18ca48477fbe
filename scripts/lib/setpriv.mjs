// argv running a command as an unprivileged user (nobody, 65534, or a named one) holding only
// the given capabilities (setpriv: inheritable, ambient and bounding sets
// alike) — how the systemd unit and the DaemonSet run the daemon. Used by
// scripts/measure-capabilities.mjs and the tests.

export const UNPRIVILEGED_UID = 65534;

/**
 * @param {readonly string[]} caps e.g. ['CAP_BPF', 'CAP_PERFMON']
 * @param {string[]} cmd
 * @param {{ memlock0?: boolean, user?: string }} [opts] memlock0: RLIMIT_MEMLOCK 0 (prlimit); user: a user name (its group too)
 * @returns {string[]}
 */
export function withCapabilities(caps, cmd, opts = {}) {
  const list = caps.map((c) => `,+${c.replace(/^CAP_/, '').toLowerCase()}`).join('');
  return [
    ...(opts.memlock0 ? ['prlimit', '--memlock=0:0'] : []),
    'setpriv',
    `--reuid=${opts.user ?? UNPRIVILEGED_UID}`,
    `--regid=${opts.user ?? UNPRIVILEGED_UID}`,
    opts.user ? '--init-groups' : '--clear-groups',
    `--inh-caps=-all${list}`,
    `--ambient-caps=-all${list}`,
    `--bounding-set=-all${list}`,
    ...cmd,
  ];
}
