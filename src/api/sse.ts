// Server-sent events on the wire (the WHATWG "text/event-stream" format):
// one writer for /v1/events, one reader shared by `ctscope watch` and the
// dashboard page (bundled into it), so both ends agree on the framing.

export interface SseMessage {
  /** The `event:` field ('message' when absent). */
  event: string;
  /** The `data:` lines joined by newlines. */
  data: string;
}

/** One event, framed: `event: NAME`, one `data:` line per line of data, a blank line. */
export function formatSse(event: string, data: string): string {
  return `event: ${event}\n${data
    .split('\n')
    .map((l) => `data: ${l}\n`)
    .join('')}\n`;
}

/**
 * An incremental reader: push() text as it arrives (chunks may split lines
 * and events anywhere) and get the complete events back. Comments (`:`
 * lines, the keep-alives) and fields other than event/data are ignored.
 */
export class SseParser {
  private buf = '';
  private event = '';
  private data: string[] = [];

  push(chunk: string): SseMessage[] {
    this.buf += chunk;
    const out: SseMessage[] = [];
    let nl: number;
    while ((nl = this.buf.search(/\r\n|\r|\n/)) >= 0) {
      // a CR at the very end may be the first half of a CRLF split across chunks
      if (nl === this.buf.length - 1 && this.buf[nl] === '\r') break;
      const line = this.buf.slice(0, nl);
      this.buf = this.buf.slice(nl + (this.buf.startsWith('\r\n', nl) ? 2 : 1));
      if (line === '') {
        if (this.data.length) out.push({ event: this.event || 'message', data: this.data.join('\n') });
        this.event = '';
        this.data = [];
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'event') this.event = value;
      else if (field === 'data') this.data.push(value);
    }
    return out;
  }
}
