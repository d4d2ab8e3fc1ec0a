// Where an account's revocation entries go among its ConfigMaps ("shards"): one ConfigMap holds at
// most 1 MiB of data, some 6,000 entries (fewer for long access names), and an account may need
// more. Pure: the store reads the shards, asks planShards which to write, and writes only those.
//
// Shards are numbered from 0; shard 0 has the name the single ConfigMap of earlier versions had, so
// the entries it holds stay where they are. An entry stays in the shard it was found in, and a new
// one goes into the first shard with room, a new shard being made when none has. So a cycle that
// adds a batch of entries rewrites one shard (two when it fills up), and pruning rewrites the
// shards of the entries that expired, mostly added together. (A hash of the user key into N shards
// would spread every batch, and every prune, over all N, and would move the entries of earlier
// versions.) An emptied shard is deleted, except shard 0.

import { byCodeUnits } from '../api/order.ts';

/** A shard as stored: user public key -> the entry, serialized. */
export interface Shard {
  index: number;
  data: Readonly<Record<string, string>>;
}

export interface ShardPlan {
  /** Shards to create or replace, each with all of its entries, in the order to write them. */
  writes: Shard[];
  /** Shards left empty, to delete after the writes. */
  deletes: number[];
}

/** Bytes an entry takes in a ConfigMap, as the API server counts them (key and value). */
const entryBytes = (user: string, value: string) => Buffer.byteLength(user) + Buffer.byteLength(value);

/**
 * Spreads `entries` (user -> serialized entry) over shards of at most `maxBytes` each, starting
 * from `stored`: an entry found in a shard stays there (the first one, if it was found in two)
 * unless that shard no longer has room for it (it grew). Returns the shards whose contents change.
 */
export function planShards(stored: readonly Shard[], entries: ReadonlyMap<string, string>, maxBytes: number): ShardPlan {
  const layout = new Map<number, { data: Record<string, string>; bytes: number }>();
  const placed = new Set<string>();
  const place = (index: number, user: string, value: string) => {
    let shard = layout.get(index);
    if (!shard) layout.set(index, (shard = { data: {}, bytes: 0 }));
    shard.data[user] = value;
    shard.bytes += entryBytes(user, value);
    placed.add(user);
  };
  const byIndex = [...stored].sort((a, b) => a.index - b.index);
  for (const shard of byIndex) {
    layout.set(shard.index, { data: {}, bytes: 0 });
    for (const user of Object.keys(shard.data).sort()) {
      const value = entries.get(user);
      if (value === undefined || placed.has(user)) continue;
      if (layout.get(shard.index)!.bytes + entryBytes(user, value) <= maxBytes) place(shard.index, user, value);
    }
  }
  for (const [user, value] of [...entries].sort(([a], [b]) => byCodeUnits(a, b))) {
    if (placed.has(user)) continue;
    let index = 0;
    // A shard that does not exist yet takes any entry (none is near the limit on its own).
    while (layout.has(index) && layout.get(index)!.bytes + entryBytes(user, value) > maxBytes) index++;
    place(index, user, value);
  }

  const before = new Map(byIndex.map((shard) => [shard.index, shard.data]));
  const writes: Shard[] = [];
  const deletes: number[] = [];
  for (const [index, { data }] of [...layout].sort(([a], [b]) => a - b)) {
    const previous = before.get(index);
    const empty = Object.keys(data).length === 0;
    if (previous && empty && index > 0) deletes.push(index);
    else if (!(previous ? sameData(previous, data) : empty)) writes.push({ index, data });
  }
  // A shard that an entry moved out of is written after the one it moved into, so that a save
  // cut short leaves the entry in both (load keeps one) rather than in neither.
  const movedOut = (shard: Shard) => Object.keys(before.get(shard.index) ?? {}).some((user) => entries.has(user) && !(user in shard.data));
  return { writes: [...writes.filter((shard) => !movedOut(shard)), ...writes.filter(movedOut)], deletes };
}

function sameData(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((key) => a[key] === b[key]);
}
