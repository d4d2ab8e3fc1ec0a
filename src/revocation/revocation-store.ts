// Keeps each account's revocation entries in ConfigMaps in the operator's namespace, so that they
// outlive the operator process and can be pushed again to a NATS server that lost them. One data
// key per revoked user (its public key, which is not secret); the value says when it was revoked,
// when its last JWT expires (after which the entry is pruned) and for which access. An account's
// entries may need more room than one ConfigMap has: they are spread over shards (see
// revocation-shards.ts), found again by the account label.

import type { V1ConfigMap } from '@kubernetes/client-node';
import { GROUP, MANAGED_BY_LABEL, MANAGED_BY_VALUE } from '../api/constants.ts';
import type { CoreApi } from '../kube/api.ts';
import { succeeded } from '../kube/errors.ts';
import { planShards, type Shard } from './revocation-shards.ts';

export interface RevocationEntry {
  /** Unix seconds: JWTs of the user issued at or before then are revoked. */
  revokedAt: number;
  /** Unix seconds: when the user's last JWT expires; the entry is needed until then. */
  expiresAt: number;
  /** namespace/name of the WorkspaceNatsAccess the user belonged to. */
  access: string;
}

export const ACCOUNT_LABEL = `${GROUP}/account`;

/**
 * How full a shard gets, keys and values: the API server refuses a ConfigMap with more than 1 MiB
 * of values, and etcd (by default) an object over 1.5 MiB, keys and metadata included.
 */
export const SHARD_DATA_BYTES = 1_000_000;

const iso = (seconds: number) => new Date(seconds * 1000).toISOString().replace(/\.000Z$/, 'Z');
const seconds = (text: unknown) => (typeof text === 'string' ? Math.floor(Date.parse(text) / 1000) : NaN);

/** A shard as last read or written. */
interface KnownShard extends Shard {
  resourceVersion: string;
}

export class RevocationStore {
  private readonly core: CoreApi;
  private readonly namespace: string;
  private readonly fieldManager: string;
  /** Each account's shards as last read or written, by index. */
  private readonly shards = new Map<string, Map<number, KnownShard>>();

  constructor(core: CoreApi, namespace: string, fieldManager: string) {
    this.core = core;
    this.namespace = namespace;
    this.fieldManager = fieldManager;
  }

  /** Shard 0 is named as the one ConfigMap of earlier versions was. */
  static configMapName(account: string, shard = 0): string {
    const name = `wno-revocations-${account.toLowerCase()}`;
    return shard === 0 ? name : `${name}-${shard}`;
  }

  /**
   * The stored entries of every shard; entries that do not parse are skipped (and dropped by the
   * next save), and of a user found in two shards (a save cut short), the later expiry wins.
   */
  async load(account: string): Promise<Map<string, RevocationEntry>> {
    const list = await this.core.listNamespacedConfigMap({ namespace: this.namespace, labelSelector: `${ACCOUNT_LABEL}=${account}` });
    const shards = new Map<number, KnownShard>();
    const entries = new Map<string, RevocationEntry>();
    for (const configMap of list.items) {
      const index = shardIndex(account, configMap.metadata?.name ?? '');
      if (index === undefined) continue;
      const data = configMap.data ?? {};
      shards.set(index, { index, data, resourceVersion: configMap.metadata?.resourceVersion ?? '' });
      for (const [user, value] of Object.entries(data)) {
        const entry = parseEntry(value);
        if (entry && entry.expiresAt > (entries.get(user)?.expiresAt ?? -Infinity)) entries.set(user, entry);
      }
    }
    this.shards.set(account, shards);
    return entries;
  }

  /**
   * Replaces the stored entries with `entries`, writing only the shards that change, each guarded
   * by the resourceVersion last loaded or written. A 409 means someone else wrote one: load again
   * and merge.
   */
  async save(account: string, entries: ReadonlyMap<string, RevocationEntry>): Promise<void> {
    const known = this.shards.get(account) ?? new Map<number, KnownShard>();
    this.shards.set(account, known);
    const data = new Map<string, string>();
    for (const [user, entry] of entries) {
      data.set(user, JSON.stringify({ revokedAt: iso(entry.revokedAt), expiresAt: iso(entry.expiresAt), access: entry.access }));
    }
    const plan = planShards([...known.values()], data, SHARD_DATA_BYTES);
    // One at a time, in the planned order; a save cut short by a conflict is redone after a load.
    for (const shard of plan.writes) known.set(shard.index, await this.write(account, shard, known.get(shard.index)?.resourceVersion));
    for (const index of plan.deletes) {
      const name = RevocationStore.configMapName(account, index);
      const resourceVersion = known.get(index)?.resourceVersion;
      // Gone already (404) is as good as deleted.
      await succeeded(this.core.deleteNamespacedConfigMap({ name, namespace: this.namespace, body: { preconditions: { resourceVersion } } }), [404]);
      known.delete(index);
    }
  }

  private async write(account: string, shard: Shard, resourceVersion: string | undefined): Promise<KnownShard> {
    const name = RevocationStore.configMapName(account, shard.index);
    const body: V1ConfigMap = {
      metadata: {
        name,
        namespace: this.namespace,
        labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE, [ACCOUNT_LABEL]: account },
        ...(resourceVersion ? { resourceVersion } : {}),
      },
      data: { ...shard.data },
    };
    const written = resourceVersion
      ? await this.core.replaceNamespacedConfigMap({ name, namespace: this.namespace, body, fieldManager: this.fieldManager })
      : await this.core.createNamespacedConfigMap({ namespace: this.namespace, body, fieldManager: this.fieldManager });
    return { index: shard.index, data: shard.data, resourceVersion: written.metadata?.resourceVersion ?? '' };
  }
}

/** Which shard of `account` the ConfigMap `name` is; undefined when it is none of them. */
function shardIndex(account: string, name: string): number | undefined {
  const base = RevocationStore.configMapName(account);
  if (name === base) return 0;
  const suffix = name.startsWith(`${base}-`) ? name.slice(base.length + 1) : '';
  return /^[1-9][0-9]*$/.test(suffix) ? Number(suffix) : undefined;
}

function parseEntry(value: string): RevocationEntry | undefined {
  try {
    const raw = JSON.parse(value) as Record<string, unknown>;
    const entry = { revokedAt: seconds(raw.revokedAt), expiresAt: seconds(raw.expiresAt), access: String(raw.access ?? '') };
    return Number.isFinite(entry.revokedAt) && Number.isFinite(entry.expiresAt) ? entry : undefined;
  } catch {
    return undefined;
  }
}
