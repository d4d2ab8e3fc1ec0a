// Cutting an access's auth callout logins on every NATS server: each server lists the account's
// connections of the access's user name (CONNZ), each is closed (KICK), and the servers are asked
// again until none is left. A login the callout allowed just before it saw the access go may
// still register after a listing; the repeat catches it, and the callout denies every later one.

import type { NatsSystemClient } from '../nats/system-client.ts';

/** Listings before giving up (the reconcile is then retried). */
const ROUNDS = 4;

/** Closes every connection of `user` in `account`; resolves with how many, throws if some stay. */
export async function cutLogins(client: NatsSystemClient, account: string, user: string): Promise<number> {
  const servers = await client.servers();
  if (servers.length === 0) throw new Error('no NATS server answered');
  let kicked = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const listings = await client.connectionsOf(account, user, servers.length);
    if (listings.length < servers.length) {
      throw new Error(`${listings.length} of ${servers.length} NATS servers listed their connections`);
    }
    const open = listings.flatMap(({ server, cids }) => cids.map((cid) => ({ server, cid })));
    if (open.length === 0) return kicked;
    const results = await Promise.all(open.map(({ server, cid }) => client.kick(server.id, cid)));
    kicked += results.filter(Boolean).length;
  }
  throw new Error(`connections of ${user} kept appearing after ${ROUNDS} rounds of kicks`);
}
