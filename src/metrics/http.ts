// The API's own health, as a monitoring daemon's must be monitored too:
// requests by route pattern and status code, and a latency histogram per
// route. Route labels are the declared patterns (`/v1/flows/:id`) or
// `unmatched`, so cardinality is bounded by the routes, never by the URLs
// clients send.

import type { Exposition } from './exposition.js';

/** Upper bounds in seconds; the last bucket is +Inf. */
export const HTTP_LE_SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5] as const;

/** The route label of requests no route matched (404, 405, CONNECT, client errors). */
export const UNMATCHED = 'unmatched';

interface RouteLatency {
  buckets: Float64Array;
  count: number;
  sum: number;
}

export class HttpMetrics {
  /** route -> status code -> requests */
  private readonly requests = new Map<string, Map<number, number>>();
  private readonly latency = new Map<string, RouteLatency>();

  observe(route: string, code: number, seconds: number): void {
    let byCode = this.requests.get(route);
    if (!byCode) this.requests.set(route, (byCode = new Map()));
    byCode.set(code, (byCode.get(code) ?? 0) + 1);
    let l = this.latency.get(route);
    if (!l) this.latency.set(route, (l = { buckets: new Float64Array(HTTP_LE_SECONDS.length + 1), count: 0, sum: 0 }));
    let k = 0;
    while (k < HTTP_LE_SECONDS.length && seconds > HTTP_LE_SECONDS[k]!) k++;
    l.buckets[k]!++;
    l.count++;
    l.sum += seconds;
  }

  /** Requests answered with `code` on `route` so far. */
  count(route: string, code: number): number {
    return this.requests.get(route)?.get(code) ?? 0;
  }

  write(out: Exposition): void {
    out.family('ctscope_http_requests_total', 'counter', 'HTTP requests answered, by route pattern and status code.');
    for (const [route, byCode] of this.requests) {
      for (const [code, n] of byCode) out.sample('ctscope_http_requests_total', n, { route, code: String(code) });
    }
    out.family('ctscope_http_request_duration_seconds', 'histogram', 'Time from a request\'s arrival to its response, by route pattern.');
    for (const [route, l] of this.latency) {
      let acc = 0;
      for (let k = 0; k < HTTP_LE_SECONDS.length; k++) {
        acc += l.buckets[k]!;
        out.sample('ctscope_http_request_duration_seconds_bucket', acc, { route, le: String(HTTP_LE_SECONDS[k]) });
      }
      out.sample('ctscope_http_request_duration_seconds_bucket', l.count, { route, le: '+Inf' });
      out.sample('ctscope_http_request_duration_seconds_sum', l.sum, { route });
      out.sample('ctscope_http_request_duration_seconds_count', l.count, { route });
    }
  }
}
