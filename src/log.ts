// The operator's structured logger: JSON lines on stdout (pino). Callers pass names, keys and
// reasons, never a seed, JWT or creds file: log fields are not filtered, so secrets must not reach
// them in the first place.

import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string): Logger {
  return pino({ level, base: { app: 'workspace-nats-operator' } });
}
