// NATS client helpers for e2e tests and benchmarks: connect with a creds file from a Secret, or with
// the auth callout's sentinel creds and a token, and observe what the server allows and refuses.
// "Allowed" is always shown by a message that made it through (a round trip, or a request
// answered), never by the absence of an error; "refused" is always the server's own reason (its
// -ERR line), never any failure: a server that cannot be reached, while it restarts say, refuses
// nothing.

import { nativeCredsAuthenticator } from '../../src/nats/native-creds.ts';
import {
  AuthorizationError,
  connect,
  PermissionViolationError,
  ProtocolError,
  tokenAuthenticator,
  UserAuthenticationExpiredError,
  type Authenticator,
  type NatsConnection,
} from '@nats-io/transport-node';
import { waitFor } from './net.ts';

/** What loginOutcome() says when the servers let the creds in. */
export const ACCEPTED = 'accepted';

/** How long to keep trying while no server answers: longer than a nats-server takes to restart. */
const UNREACHABLE_RETRY_MS = 30_000;
/** How long to wait for an answer that must come from a server which is up. */
const ANSWER_MS = 5000;

/**
 * The reason nats-server gave in the -ERR line behind `error` ("Authorization Violation",
 * "Permissions Violation for Publish to \"x\"", "User Authentication Revoked", ...), or undefined
 * if `error` did not come from the server (refused or lost TCP connections, timeouts, none).
 * nats.js turns every -ERR line, and only those, into one of these four classes.
 */
export function serverReason(error: unknown): string | undefined {
  const fromServer =
    error instanceof AuthorizationError ||
    error instanceof PermissionViolationError ||
    error instanceof UserAuthenticationExpiredError ||
    error instanceof ProtocolError;
  return fromServer ? error.message : undefined;
}

/**
 * Whether a failed login says nothing about the creds: no server answered, or one answered too
 * slowly for the client to prove its nkey in time (a loaded machine), which the server reports as
 * "Authentication Timeout".
 */
const worthRetrying = (error: unknown) => {
  const reason = serverReason(error);
  return reason === undefined || reason === 'Authentication Timeout';
};

/** Options for connectWithCreds and connectWithToken. */
export interface ConnectOptions {
  inboxPrefix?: string;
  /** The client's name, which nats-server shows (connz, advisories). */
  name?: string;
}

/**
 * Connects with `creds` (no reconnects). A login the server refuses fails at once with the
 * server's reason; while no server answers, it tries again, for up to 30 s.
 */
export function connectWithCreds(servers: string[], creds: string, options: ConnectOptions = {}): Promise<NatsConnection> {
  return connectRetrying(servers, nativeCredsAuthenticator(creds), options);
}

/**
 * Connects as the auth callout's sentinel (`sentinelCreds`) with `token` (an OIDC ID token, a
 * ServiceAccount token) in CONNECT's auth_token, for the callout to judge; otherwise as
 * connectWithCreds. nats.js merges the fields of every authenticator in the list into CONNECT, so
 * it carries the sentinel's jwt, nkey and nonce signature and the token side by side.
 */
export function connectWithToken(
  servers: string[],
  sentinelCreds: string,
  token: string,
  options: ConnectOptions = {},
): Promise<NatsConnection> {
  return connectRetrying(servers, [nativeCredsAuthenticator(sentinelCreds), tokenAuthenticator(token)], options);
}

async function connectRetrying(
  servers: string[],
  authenticator: Authenticator | Authenticator[],
  options: ConnectOptions,
): Promise<NatsConnection> {
  const deadline = Date.now() + UNREACHABLE_RETRY_MS;
  for (;;) {
    try {
      return await connect({ servers, authenticator, reconnect: false, timeout: ANSWER_MS, ...options });
    } catch (error) {
      if (!worthRetrying(error) || Date.now() >= deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

/**
 * How the servers answer a login with `creds`: ACCEPTED (the server answered the CONNECT's PING,
 * so it let them in), or the reason it gave for refusing them. Unreachable servers are retried
 * (connectWithCreds), and an error that is no answer from a server is thrown, not returned.
 */
export function loginOutcome(servers: string[], creds: string): Promise<string> {
  return outcomeOf(connectWithCreds(servers, creds));
}

/** As loginOutcome, for the sentinel with `token` (connectWithToken): how the callout judged it. */
export function tokenLoginOutcome(servers: string[], sentinelCreds: string, token: string): Promise<string> {
  return outcomeOf(connectWithToken(servers, sentinelCreds, token));
}

async function outcomeOf(connecting: Promise<NatsConnection>): Promise<string> {
  try {
    await (await connecting).close();
    return ACCEPTED;
  } catch (error) {
    const reason = serverReason(error);
    if (reason === undefined) throw error;
    return reason;
  }
}

/**
 * Waits until the servers stop letting `creds` in (a revocation landing, say), and returns the
 * reason they then give.
 */
export function waitForRefusal(servers: string[], creds: string, timeoutMs: number): Promise<string> {
  return waitFor(
    async () => {
      const outcome = await loginOutcome(servers, creds);
      return outcome === ACCEPTED ? undefined : outcome;
    },
    { what: 'the servers to refuse the creds', timeoutMs },
  );
}

/** The reason the server gave for closing `nc` (as "User Authentication Revoked"), once it has. */
export async function closeReason(nc: NatsConnection): Promise<string | undefined> {
  return serverReason(await nc.closed());
}

const within = <T>(promise: Promise<T>, ms: number, what: string) =>
  Promise.race([
    promise,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no ${what} within ${ms}ms`)), ms).unref()),
  ]);

/** Subscribes on `subject`, publishes to it from `publisher`, and returns the message received. */
export async function roundTrip(
  subscriber: NatsConnection,
  publisher: NatsConnection,
  subject: string,
): Promise<string> {
  const sub = subscriber.subscribe(subject, { max: 1 });
  await subscriber.flush();
  publisher.publish(subject, 'hello');
  await publisher.flush();
  const first = await within(sub[Symbol.asyncIterator]().next(), ANSWER_MS, `message on ${subject}`);
  if (first.done) throw new Error(`subscription on ${subject} closed without a message`);
  return first.value.string();
}

/**
 * `responder` serves one request on `subject` with "pong"; returns the reply `requester` got. Shows
 * that the requester may publish there and receive in its inbox, and the responder may answer.
 */
export async function requestReply(
  requester: NatsConnection,
  responder: NatsConnection,
  subject: string,
): Promise<string> {
  const service = responder.subscribe(subject, {
    max: 1,
    callback: (error, msg) => {
      if (!error) msg.respond('pong');
    },
  });
  try {
    await responder.flush();
    return (await requester.request(subject, 'ping', { timeout: ANSWER_MS })).string();
  } finally {
    service.unsubscribe();
  }
}

/**
 * Publishes to `subject` and returns the server's refusal ("Permissions Violation for Publish to
 * ..."); fails if none comes. The server handles a connection's commands in order, so its -ERR
 * arrives before the PONG of the flush that follows: the wait only bounds a missing refusal.
 */
export async function publishRefusal(nc: NatsConnection, subject: string): Promise<string> {
  const refused = permissionViolation(nc, 'publish', subject);
  nc.publish(subject, 'refused?');
  await nc.flush();
  return refused;
}

/** Subscribes to `subject` and returns the server's refusal; fails if none comes. */
export async function subscribeRefusal(nc: NatsConnection, subject: string): Promise<string> {
  const sub = nc.subscribe(subject);
  try {
    await nc.flush();
    const closed = await within(sub.closed, ANSWER_MS, `refusal of a subscription to ${subject}`);
    if (!(closed instanceof PermissionViolationError)) {
      throw new Error(`the subscription to ${subject} ended without a refusal (${String(closed)})`);
    }
    return closed.message;
  } finally {
    if (!sub.isClosed()) sub.unsubscribe();
  }
}

/** The next permission error the server reports on `nc` for `operation` on `subject`. */
function permissionViolation(nc: NatsConnection, operation: 'publish' | 'subscription', subject: string): Promise<string> {
  // Listening starts now, before the caller sends anything.
  const statuses = nc.status();
  const next = (async () => {
    for await (const status of statuses) {
      if (status.type !== 'error') continue;
      const { error } = status;
      if (error instanceof PermissionViolationError && error.operation === operation && error.subject === subject) {
        return error.message;
      }
    }
    throw new Error(`the connection closed before the server refused ${operation} to ${subject}`);
  })();
  return within(next, ANSWER_MS, `refusal of ${operation} to ${subject}`);
}

/**
 * The subjects `subscriber` receives on `filter` while `act` runs: once `act` is done, `subscriber`
 * publishes `marker` (which `filter` must match) to itself, and the list is read when the marker
 * is back. A server queues what it delivers to a connection in order, so a message it handled
 * before the marker (`act` waited for the server's answer to it, say) arrived before the marker.
 * Needs one server: over routes, order across connections is not kept.
 */
export async function receivedWhile(
  subscriber: NatsConnection,
  filter: string,
  marker: string,
  act: () => Promise<void>,
): Promise<string[]> {
  const received: string[] = [];
  let markerSeen: () => void = () => undefined;
  const markerBack = new Promise<void>((resolve) => (markerSeen = resolve));
  const sub = subscriber.subscribe(filter, {
    callback: (error, msg) => {
      if (error) return;
      if (msg.subject === marker) markerSeen();
      else received.push(msg.subject);
    },
  });
  try {
    await subscriber.flush();
    await act();
    subscriber.publish(marker, 'marker');
    await within(markerBack, ANSWER_MS, `marker on ${marker}`);
    return received;
  } finally {
    sub.unsubscribe();
  }
}
