// Where revocation entries go among an account's ConfigMaps: which shards a save writes, and which
// it leaves alone. Entries here are 10 bytes each (a 2-byte key, an 8-byte value), shards hold 30.

import { planShards, type Shard } from '../../src/revocation/revocation-shards.ts';

const MAX_BYTES = 30;
const value = (user: string, version = 'v1') => `${user}-${version}`.padEnd(8, '.');
/** user -> value for each of `users`. */
const entries = (...users: string[]) => new Map(users.map((user) => [user, value(user)]));
const shard = (index: number, ...users: string[]): Shard => ({ index, data: Object.fromEntries(entries(...users)) });
const usersOf = (plan: ReturnType<typeof planShards>) => plan.writes.map((write) => [write.index, Object.keys(write.data).sort()]);

describe('planShards', () => {
  test('nothing stored and nothing to store: no write', () => {
    expect(planShards([], new Map(), MAX_BYTES)).toEqual({ writes: [], deletes: [] });
  });

  test('entries fill shard 0, then shard 1 is made', () => {
    const plan = planShards([], entries('U1', 'U2', 'U3', 'U4', 'U5'), MAX_BYTES);
    expect(usersOf(plan)).toEqual([
      [0, ['U1', 'U2', 'U3']],
      [1, ['U4', 'U5']],
    ]);
    expect(plan.deletes).toEqual([]);
  });

  test('nothing changed: no write', () => {
    expect(planShards([shard(0, 'U1', 'U2', 'U3'), shard(1, 'U4')], entries('U1', 'U2', 'U3', 'U4'), MAX_BYTES)).toEqual({ writes: [], deletes: [] });
  });

  test('an entry stays in its shard; a new one goes into the first shard with room, and only those shards are written', () => {
    const stored = [shard(0, 'U1', 'U2', 'U3'), shard(1, 'U4', 'U5', 'U6'), shard(2, 'U7')];
    // U2 expired: shard 0 has room again, and takes the first new entry; shard 2 the next.
    const plan = planShards(stored, entries('U1', 'U3', 'U4', 'U5', 'U6', 'U7', 'U8', 'U9'), MAX_BYTES);
    expect(usersOf(plan)).toEqual([
      [0, ['U1', 'U3', 'U8']],
      [2, ['U7', 'U9']],
    ]);
  });

  test('a changed entry rewrites its shard', () => {
    const plan = planShards([shard(0, 'U1', 'U2'), shard(1, 'U3')], new Map([...entries('U1', 'U2'), ['U3', value('U3', 'v2')]]), MAX_BYTES);
    expect(plan.writes).toEqual([{ index: 1, data: { U3: value('U3', 'v2') } }]);
  });

  test('a shard emptied by pruning is deleted, except shard 0, which is written empty', () => {
    const plan = planShards([shard(0, 'U1'), shard(1, 'U2', 'U3'), shard(2, 'U4')], entries('U4'), MAX_BYTES);
    expect(plan).toEqual({ writes: [{ index: 0, data: {} }], deletes: [1] });
  });

  test('a user found in two shards (a save cut short) stays in the first and leaves the other', () => {
    const plan = planShards([shard(0, 'U1', 'U2'), shard(1, 'U2', 'U3')], entries('U1', 'U2', 'U3'), MAX_BYTES);
    expect(usersOf(plan)).toEqual([[1, ['U3']]]);
  });

  test('an entry that no longer fits its shard (one grew) moves, and the shard it left is written after the one it joined', () => {
    const stored = [shard(0, 'U1', 'U2', 'U3'), shard(1, 'U4')];
    const grown = new Map([...entries('U1', 'U2', 'U3', 'U4'), ['U1', 'a-longer-value']]);
    const plan = planShards(stored, grown, MAX_BYTES);
    expect(plan.writes).toEqual([
      { index: 1, data: { U4: value('U4'), U3: value('U3') } },
      { index: 0, data: { U1: 'a-longer-value', U2: value('U2') } },
    ]);
  });
});
