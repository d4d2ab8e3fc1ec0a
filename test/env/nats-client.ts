// NATS client helpers for e2e tests and benchmarks: connect with a creds file from a Secret, and
// observe what the server allows and refuses.

import {
  connect,
  credsAuthenticator,
  PermissionViolationError,
  type NatsConnection,
} from '@nats-io/transport-node';

export async function connectWithCreds(servers: string[], creds: string): Promise<NatsConnection> {
  return connect({
    servers,
    authenticator: credsAuthenticator(new TextEncoder().encode(creds)),
    reconnect: false,
    timeout: 5000,
  });
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
  const first = await within(sub[Symbol.asyncIterator]().next(), 5000, `message on ${subject}`);
  if (first.done) throw new Error(`subscription on ${subject} closed without a message`);
  return first.value.string();
}

/** The server's permission error for the next operation, or undefined if none came in `ms`. */
export async function nextPermissionError(
  nc: NatsConnection,
  ms: number,
): Promise<PermissionViolationError | undefined> {
  const statuses = nc.status()[Symbol.asyncIterator]();
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const next = await Promise.race([
      statuses.next(),
      new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), deadline - Date.now()).unref()),
    ]);
    if (!next || next.done) return undefined;
    const status = next.value;
    if (status.type === 'error' && status.error instanceof PermissionViolationError) return status.error;
  }
  return undefined;
}

/** Publishes to `subject` and returns the server's permission error (or undefined if allowed). */
export async function publishError(
  nc: NatsConnection,
  subject: string,
): Promise<PermissionViolationError | undefined> {
  const error = nextPermissionError(nc, 2000);
  nc.publish(subject, 'x');
  await nc.flush();
  return error;
}

/** Subscribes to `subject` and returns the server's permission error (or undefined if allowed). */
export async function subscribeError(
  nc: NatsConnection,
  subject: string,
): Promise<Error | undefined> {
  const sub = nc.subscribe(subject);
  await nc.flush();
  const closed = await Promise.race([
    sub.closed,
    new Promise<'open'>((resolve) => setTimeout(() => resolve('open'), 1000).unref()),
  ]);
  if (closed === 'open') {
    sub.unsubscribe();
    return undefined;
  }
  return closed instanceof Error ? closed : undefined;
}
