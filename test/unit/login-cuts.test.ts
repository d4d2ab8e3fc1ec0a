// cutLogins against a fake system client standing in for a NATS cluster: every listed connection
// of the user is kicked on its own server, and the cut is only done when every server lists none.

import type { NatsServerRef, NatsSystemClient } from '../../src/nats/system-client.ts';
import { cutLogins } from '../../src/revocation/login-cuts.ts';

const ACCOUNT = 'ACALLOUTACCOUNT';
const USER = 'team-a/ws1';

/** Servers with open connections (cids) of the user; what the test changes of their behaviour. */
function cluster(connections: Record<string, number[]>) {
  const open = new Map(Object.entries(connections).map(([id, cids]) => [id, new Set(cids)]));
  const state = {
    /** Servers that answer PING but not the listing. */
    silent: new Set<string>(),
    /** Called after each listing: may open new connections (logins racing the cut). */
    afterListing: (_round: number) => undefined as void,
    /** cids whose kick the server refuses (they stay open). */
    refused: new Set<number>(),
    listings: 0,
    kicks: [] as [string, number][],
    listingArgs: [] as [string, string, number][],
  };
  const servers: NatsServerRef[] = [...open.keys()].map((id) => ({ id, name: `nats-${id}` }));
  const client = {
    servers: async () => servers,
    connectionsOf: async (account: string, user: string, expected: number) => {
      state.listingArgs.push([account, user, expected]);
      const listed = servers.filter((server) => !state.silent.has(server.id)).map((server) => ({ server, cids: [...(open.get(server.id) ?? [])] }));
      state.afterListing(state.listings++);
      return listed;
    },
    kick: async (serverId: string, cid: number) => {
      state.kicks.push([serverId, cid]);
      if (state.refused.has(cid)) return false;
      return open.get(serverId)?.delete(cid) ?? false;
    },
  };
  return { client: client as unknown as NatsSystemClient, state, open };
}

test('kicks every connection on the server it is on, and resolves with the count once none is left', async () => {
  const { client, state, open } = cluster({ a: [1, 2], b: [], c: [7] });
  await expect(cutLogins(client, ACCOUNT, USER)).resolves.toBe(3);
  expect(state.kicks.sort()).toEqual([['a', 1], ['a', 2], ['c', 7]]);
  expect([...open.values()].every((cids) => cids.size === 0)).toBe(true);
  // Listed again to confirm; each listing asks for an answer from every server.
  expect(state.listingArgs).toEqual([
    [ACCOUNT, USER, 3],
    [ACCOUNT, USER, 3],
  ]);
});

test('no connections: nothing kicked, one listing', async () => {
  const { client, state } = cluster({ a: [], b: [] });
  await expect(cutLogins(client, ACCOUNT, USER)).resolves.toBe(0);
  expect(state.kicks).toEqual([]);
  expect(state.listings).toBe(1);
});

test('a login that registers after a listing is caught by the next one', async () => {
  const { client, state, open } = cluster({ a: [1], b: [] });
  state.afterListing = (round) => void (round === 0 && open.get('b')?.add(9));
  await expect(cutLogins(client, ACCOUNT, USER)).resolves.toBe(2);
  expect(state.kicks).toEqual([
    ['a', 1],
    ['b', 9],
  ]);
  expect(state.listings).toBe(3);
});

test('throws when no server answers, or a server does not list its connections', async () => {
  await expect(cutLogins(cluster({}).client, ACCOUNT, USER)).rejects.toThrow(/no NATS server answered/);
  const { client, state } = cluster({ a: [1], b: [2] });
  state.silent.add('b');
  // Kicking on the servers that answered would report a cut that has not happened on b.
  await expect(cutLogins(client, ACCOUNT, USER)).rejects.toThrow(/1 of 2 NATS servers/);
  expect(state.kicks).toEqual([]);
});

test('a server that stops answering after the kicks fails the cut too', async () => {
  const { client, state } = cluster({ a: [1], b: [2] });
  state.afterListing = (round) => void (round === 0 && state.silent.add('b'));
  await expect(cutLogins(client, ACCOUNT, USER)).rejects.toThrow(/1 of 2 NATS servers/);
});

test('connections that keep appearing: throws after the rounds, without looping on', async () => {
  const { client, state, open } = cluster({ a: [1] });
  let next = 100;
  state.afterListing = () => void open.get('a')?.add(next++);
  await expect(cutLogins(client, ACCOUNT, USER)).rejects.toThrow(`connections of ${USER} kept appearing after 4 rounds`);
  expect(state.listings).toBe(4);
});

test('a refused kick is not counted, and a connection it leaves open fails the cut', async () => {
  const { client, state } = cluster({ a: [1, 2] });
  state.refused.add(2);
  await expect(cutLogins(client, ACCOUNT, USER)).rejects.toThrow(/kept appearing/);
  expect(state.kicks.filter(([, cid]) => cid === 2)).toHaveLength(4);

  // One the server refused to kick because it had closed already is not counted either.
  const gone = cluster({ a: [1, 2] });
  gone.state.refused.add(2);
  gone.state.afterListing = (round) => void (round === 0 && gone.open.get('a')?.delete(2));
  await expect(cutLogins(gone.client, ACCOUNT, USER)).resolves.toBe(1);
});
