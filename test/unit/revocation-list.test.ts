// The revocation list as the ConfigMap store sees it: what a save writes, and what it leaves out.

import type { RevocationEntry, RevocationStore } from '../../src/revocation/revocation-store.ts';
import { RevocationList } from '../../src/revocation/revocation-list.ts';

/** A store that keeps what was saved last, and hands out what it was given to start with. */
function memoryStore(initial: Map<string, RevocationEntry> = new Map()) {
  const store = {
    saved: undefined as Map<string, RevocationEntry> | undefined,
    saves: 0,
    load: async () => new Map(initial),
    save: async (_account: string, entries: ReadonlyMap<string, RevocationEntry>) => {
      store.saves++;
      store.saved = new Map(entries);
    },
  };
  return store;
}

const at = (iso: string) => new Date(iso);
const seconds = (iso: string) => Math.floor(Date.parse(iso) / 1000);

test('a save leaves out entries past expiry plus grace, keeps those within, and writes only when behind', async () => {
  const store = memoryStore();
  let now = at('2030-05-01T12:00:00Z');
  const list = new RevocationList({ store: store as unknown as RevocationStore, account: 'AACC', clock: () => now, pruneGraceMs: 10_000 });
  await list.load();
  list.add('UGONE', at('2030-05-01T11:59:49Z'), 'ns/a', now); // expired 11 s ago: past the 10 s grace
  list.add('UGRACE', at('2030-05-01T11:59:55Z'), 'ns/a', now); // expired 5 s ago: within the grace
  list.add('ULIVE', at('2030-05-01T13:00:00Z'), 'ns/b', now);
  await list.save();
  expect([...(store.saved?.keys() ?? [])].sort()).toEqual(['UGRACE', 'ULIVE']);
  expect(store.saved?.get('ULIVE')).toEqual({ revokedAt: seconds('2030-05-01T12:00:00Z'), expiresAt: seconds('2030-05-01T13:00:00Z'), access: 'ns/b' });
  // In memory the list still has all three until the cycle prunes them (after the push).
  expect(list.users().sort()).toEqual(['UGONE', 'UGRACE', 'ULIVE']);

  await list.save();
  expect(store.saves).toBe(1);
  now = at('2030-05-01T12:00:30Z');
  list.remove(['UGONE', 'UGRACE']);
  await list.save();
  expect([...(store.saved?.keys() ?? [])]).toEqual(['ULIVE']);
});

test('a later expiry for a listed user keeps its revocation time', async () => {
  const store = memoryStore(new Map([['UA', { revokedAt: 100, expiresAt: 200, access: 'ns/a' }]]));
  const now = at('2030-05-01T12:00:00Z');
  const list = new RevocationList({ store: store as unknown as RevocationStore, account: 'AACC', clock: () => now, pruneGraceMs: 0 });
  await list.load();
  expect(list.add('UA', at('2030-05-01T13:00:00Z'), 'ns/a', now)).toBe(true);
  expect(list.snapshot().get('UA')).toEqual({ revokedAt: 100, expiresAt: seconds('2030-05-01T13:00:00Z'), access: 'ns/a' });
  expect(list.add('UA', at('2030-05-01T12:30:00Z'), 'ns/a', now)).toBe(false);
});
