/**
 * The AMI wire format: `Key: Value` lines, messages ended by an empty line,
 * one greeting line (`Asterisk Call Manager/x.y.z`) when the socket opens.
 */

/** One AMI message; header names lower-cased (m.response, m.event, m.actionid ...). */
export type AmiMessage = Record<string, string>;

const LINE_BREAK = /[\r\n]/;

/**
 * Splits a byte stream (already decoded as UTF-8) into messages. Repeated
 * headers (Command's `Output:` lines, `ChanVariable:`) are joined with "\n".
 */
export class AmiParser {
  private buffer = '';
  /** Chunks after `buffer` that end no message yet: joined once one does (a long answer comes in many). */
  private pending: string[] = [];
  /** The last 3 characters received, so that a terminator split across two chunks is still found. */
  private tail = '';
  private greeted = false;

  /** Feeds a chunk and returns the messages it completed. */
  push(chunk: string): AmiMessage[] {
    if (this.greeted) {
      const edge = this.tail + chunk;
      this.tail = edge.slice(-3);
      // Most chunks of a long Command answer end nothing: keep them without copying what came before.
      if (!edge.includes('\r\n\r\n')) {
        this.pending.push(chunk);
        return [];
      }
    }
    if (this.pending.length > 0) {
      this.buffer += this.pending.join('');
      this.pending = [];
    }
    this.buffer += chunk;
    const out: AmiMessage[] = [];
    if (!this.greeted) {
      const eol = this.buffer.indexOf('\r\n');
      if (eol < 0) return out;
      const first = this.buffer.slice(0, eol);
      if (first.startsWith('Asterisk Call Manager')) this.buffer = this.buffer.slice(eol + 2);
      this.greeted = true;
      this.tail = this.buffer.slice(-3);
    }
    // One pass over the buffer and one slice at the end: a big list answer (thousands of events in
    // a few chunks) must not copy the rest of the buffer once per message.
    let pos = 0;
    for (;;) {
      const end = this.buffer.indexOf('\r\n\r\n', pos);
      if (end < 0) break;
      const message = parseBlock(this.buffer, pos, end);
      pos = end + 4;
      if (message) out.push(message);
    }
    if (pos > 0) this.buffer = this.buffer.slice(pos);
    return out;
  }
}

/** Parses the message in text[from, to): header lines separated by CRLF. */
function parseBlock(text: string, from: number, to: number): AmiMessage | null {
  const message: AmiMessage = {};
  let sawLine = false;
  let start = from;
  while (start < to) {
    let end = text.indexOf('\r\n', start);
    if (end < 0 || end > to) end = to;
    if (end > start) {
      sawLine = true;
      const colon = text.indexOf(':', start);
      if (colon <= start || colon >= end) {
        // A line without a header name continues the previous output.
        const line = text.slice(start, end);
        message.output = message.output === undefined ? line : `${message.output}\n${line}`;
      } else {
        const key = text.slice(start, colon).trim().toLowerCase();
        const valueStart = text.charCodeAt(colon + 1) === 32 ? colon + 2 : colon + 1;
        const value = text.slice(valueStart, end);
        message[key] = message[key] === undefined ? value : `${message[key]}\n${value}`;
      }
    }
    start = end + 2;
  }
  return sawLine ? message : null;
}

/** Serialises an action. Throws on a header or value with a line break: it would inject headers. */
export function serializeAction(fields: Record<string, string>): string {
  let text = '';
  for (const [key, value] of Object.entries(fields)) {
    if (LINE_BREAK.test(key) || LINE_BREAK.test(value) || key.includes(':') || key.trim() === '') {
      throw new RangeError(`AMI field "${key.replace(LINE_BREAK, ' ')}" has a line break or an invalid name`);
    }
    text += `${key}: ${value}\r\n`;
  }
  return `${text}\r\n`;
}
