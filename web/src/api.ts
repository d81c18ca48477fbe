// The page's access to the API: same origin, JSON, and the event stream read
// with fetch. Where the API wants a token, the browser holds a session cookie
// (HttpOnly, SameSite=Strict) got by trading the token once at POST
// /v1/session (signin.ts); same-origin requests carry it by themselves, so
// no script here ever holds the token or the session.

import { SseParser } from '../../src/api/sse.js';

export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export async function get<T>(path: string): Promise<T> {
  return JSON.parse(await getText(path)) as T;
}

/**
 * The answer's text (a refused request throws ApiFailure with the API's
 * message). preloaded: the page's <link rel=preload> already asked for it
 * (the first refresh's headline): take that answer rather than asking again.
 */
export async function getText(path: string, preloaded = false): Promise<string> {
  const r = await fetch(path, preloaded ? {} : { cache: 'no-store' });
  if (!r.ok) {
    let msg = `${r.status}`;
    try {
      msg = ((await r.json()) as { message?: string }).message ?? msg;
    } catch {
      /* not our JSON */
    }
    throw new ApiFailure(r.status, msg);
  }
  return r.text();
}

/**
 * Follow an event stream: onEvent for each event, onState when the stream
 * opens or drops; reconnects after 2 s. Returns a stop function.
 */
export function follow(path: string, onEvent: (type: string, data: unknown) => void, onState: (open: boolean) => void): () => void {
  let stopped = false;
  let ctl: AbortController | null = null;
  const run = async (): Promise<void> => {
    while (!stopped) {
      ctl = new AbortController();
      try {
        const r = await fetch(path, { headers: { accept: 'text/event-stream' }, signal: ctl.signal, cache: 'no-store' });
        if (!r.ok || !r.body) throw new Error(String(r.status));
        onState(true);
        const reader = r.body.getReader();
        const dec = new TextDecoder();
        const parser = new SseParser();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          for (const m of parser.push(dec.decode(value, { stream: true }))) onEvent(m.event, JSON.parse(m.data));
        }
      } catch {
        /* dropped: say so and retry */
      }
      if (stopped) return;
      onState(false);
      await new Promise((res) => setTimeout(res, 2000));
    }
  };
  void run();
  return () => {
    stopped = true;
    ctl?.abort();
  };
}
