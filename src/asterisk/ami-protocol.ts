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
  private greeted = false;

  /** Feeds a chunk and returns the messages it completed. */
  push(chunk: string): AmiMessage[] {
    this.buffer += chunk;
    const out: AmiMessage[] = [];
    if (!this.greeted) {
      const eol = this.buffer.indexOf('\r\n');
      if (eol < 0) return out;
      const first = this.buffer.slice(0, eol);
      if (first.startsWith('Asterisk Call Manager')) this.buffer = this.buffer.slice(eol + 2);
      this.greeted = true;
    }
    for (;;) {
      const end = this.buffer.indexOf('\r\n\r\n');
      if (end < 0) break;
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 4);
      const message = parseBlock(block);
      if (message) out.push(message);
    }
    return out;
  }
}

function parseBlock(block: string): AmiMessage | null {
  const message: AmiMessage = {};
  let any = false;
  for (const line of block.split('\r\n')) {
    if (line === '') continue;
    const colon = line.indexOf(':');
    if (colon <= 0) {
      // A line without a header name continues the previous output.
      message.output = message.output === undefined ? line : `${message.output}\n${line}`;
      any = true;
      continue;
    }
    const key = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).replace(/^ /, '');
    message[key] = message[key] === undefined ? value : `${message[key]}\n${value}`;
    any = true;
  }
  return any ? message : null;
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
