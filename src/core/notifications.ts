/**
 * The notification port: how a layer says "this broke" or "this is fixed"
 * once, when it changes (docs/operations.md, Notifications). The layers that
 * watch a state (the peer monitor for trunks, the federation's health notices
 * for partner errors, partner keys and the outbox) call `notify` once per
 * change and never while the state holds; the notifier (src/notify) writes
 * the log line and, when a webhook is configured, posts the event there
 * without ever making the caller wait.
 */

/** What changed. */
export const NOTIFICATION_KINDS = [
  'trunk',
  'partner_error',
  'partner_key_expiry',
  'outbox_stuck',
  'partner_suspended',
] as const;
export type NotificationKind = (typeof NOTIFICATION_KINDS)[number];

/** `warning` for a change for the worse, `info` for a recovery. */
export type NotificationSeverity = 'warning' | 'info';

export interface NotificationEvent {
  kind: NotificationKind;
  severity: NotificationSeverity;
  /** The peer (trunk) it is about, when it is about one. */
  peer: string | null;
  /** The partner's server name, when known. */
  partner: string | null;
  /** The state before the change (`unknown` when none was known). */
  oldState: string;
  newState: string;
  /** When the change was seen, epoch ms (the injected clock). */
  at: number;
  /** One line for people (the log line and the payload's `message`). Never holds a secret. */
  message: string;
  /** Facts that depend on the kind (documented per kind in docs/operations.md). */
  details: Record<string, string | number | boolean | null>;
}

export interface Notifier {
  /** Records one change: returns at once, whatever the webhook does. Never throws. */
  notify(event: NotificationEvent): void;
}

/** For layers built without a notifier (unit tests): nothing is told. */
export const silentNotifier: Notifier = { notify: () => undefined };
