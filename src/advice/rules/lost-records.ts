// Lost records: a source could not keep up (ring buffer full, netlink
// overrun) or the input was damaged: every count above is a lower bound.

import type { AdviceRule } from '../types.js';
import { fmt } from '../format.js';

export const lostRecordsRule: AdviceRule = {
  id: 'lost-records',
  run(x) {
    const lost = x.model.windowSum('lost', x.window);
    const input = x.input;
    if (lost <= 0 && !input?.partial) return [];
    const parts: string[] = [];
    if (lost > 0) parts.push(`${fmt(lost)} records lost by the sources in the last ${x.window} s`);
    if (input?.partial) parts.push(`the input was not read completely (${input.detail ?? `${input.problems} problems`})`);
    return [
      {
        id: 'lost-records',
        level: 'warn',
        title: `Counts are lower bounds: ${parts.join('; ')}`,
        detail: 'What was lost is not in the rankings and rates; the kernel figures (/v1/table) are unaffected. ctnetlink resynchronises its table after an overrun.',
        evidence: { window_s: x.window, lost_records: lost, partial_input: input?.partial ?? false, input_problems: input?.problems ?? 0, input_detail: input?.detail ?? null },
        checks: { lost_records: '/v1/status (lost per source) and /metrics ctscope_records_lost_total' },
        action: input?.partial ? 'See the report\'s partial.problems for what was lost and where.' : 'See /v1/status for the source and the mechanism; a larger ring (busy node) or netlink buffer helps.',
      },
    ];
  },
};
