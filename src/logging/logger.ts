import winston from 'winston';

/** Keys whose values are never logged, wherever they appear in a log entry. */
const SECRET_KEY = /(secret|password|passwd|pass|token|private|authorization|cookie|signature|ikm)/i;
const REDACTED = '[redacted]';

/** Replaces secret-looking fields (by key) anywhere in a value, depth-limited. */
export function redact(value: unknown, depth = 0): unknown {
  if (depth > 6 || value === null || typeof value !== 'object') return value;
  if (value instanceof Error) return { name: value.name, message: value.message };
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    out[k] =
      SECRET_KEY.test(k) && v !== undefined && v !== null && v !== '' ? REDACTED : redact(v, depth + 1);
  }
  return out;
}

const redactFormat = winston.format((info) => {
  for (const key of Object.keys(info)) {
    if (key === 'level' || key === 'message') continue;
    const v = (info as Record<string, unknown>)[key];
    (info as Record<string, unknown>)[key] = SECRET_KEY.test(key) && v ? REDACTED : redact(v);
  }
  return info;
});

export type Logger = winston.Logger;

export interface LoggerOptions {
  level: string;
  format: 'json' | 'pretty';
  /** Extra transport, e.g. to capture logs in tests. */
  stream?: NodeJS.WritableStream;
  silent?: boolean;
}

export function createLogger(opts: LoggerOptions): Logger {
  const format =
    opts.format === 'json'
      ? winston.format.combine(redactFormat(), winston.format.timestamp(), winston.format.json())
      : winston.format.combine(
          redactFormat(),
          winston.format.timestamp({ format: 'HH:mm:ss.SSS' }),
          winston.format.printf((info) => {
            const { level, message, timestamp, component, ...rest } = info as Record<string, unknown>;
            const extra = Object.keys(rest).length ? ' ' + JSON.stringify(rest) : '';
            return `${String(timestamp)} ${String(level).padEnd(5)} ${component ? `[${String(component)}] ` : ''}${String(message)}${extra}`;
          }),
        );
  const transports: winston.transport[] = [
    opts.stream
      ? new winston.transports.Stream({ stream: opts.stream })
      : new winston.transports.Console({ stderrLevels: ['error', 'warn', 'info', 'debug'] }),
  ];
  return winston.createLogger({ level: opts.level, format, transports, silent: opts.silent });
}
