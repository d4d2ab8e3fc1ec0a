// Keeps each account's revocation entries in a ConfigMap in the operator's namespace, so that they
// outlive the operator process and can be pushed again to a NATS server that lost them. One data
// key per revoked user (its public key, which is not secret); the value says when it was revoked,
// when its last JWT expires (after which the entry is pruned) and for which access.

import type { CoreV1Api, V1ConfigMap } from '@kubernetes/client-node';
import { GROUP, MANAGED_BY_LABEL, MANAGED_BY_VALUE } from '../api/constants.ts';
import { unlessNotFound } from '../kube/errors.ts';
import { byCodeUnits } from '../api/order.ts';

export interface RevocationEntry {
  /** Unix seconds: JWTs of the user issued at or before then are revoked. */
  revokedAt: number;
  /** Unix seconds: when the user's last JWT expires; the entry is needed until then. */
  expiresAt: number;
  /** namespace/name of the WorkspaceNatsAccess the user belonged to. */
  access: string;
}

export const ACCOUNT_LABEL = `${GROUP}/account`;

/** A ConfigMap holds at most 1 MiB; room is left for its metadata. */
const MAX_DATA_BYTES = 1_000_000;

const iso = (seconds: number) => new Date(seconds * 1000).toISOString().replace(/\.000Z$/, 'Z');
const seconds = (text: unknown) => (typeof text === 'string' ? Math.floor(Date.parse(text) / 1000) : NaN);

export class RevocationStore {
  private readonly core: CoreV1Api;
  private readonly namespace: string;
  private readonly fieldManager: string;
  /** resourceVersion of each account's ConfigMap as last read or written ('' = does not exist). */
  private readonly versions = new Map<string, string>();

  constructor(core: CoreV1Api, namespace: string, fieldManager: string) {
    this.core = core;
    this.namespace = namespace;
    this.fieldManager = fieldManager;
  }

  static configMapName(account: string): string {
    return `wno-revocations-${account.toLowerCase()}`;
  }

  /** The stored entries; entries that do not parse are skipped (and dropped by the next save). */
  async load(account: string): Promise<Map<string, RevocationEntry>> {
    const configMap = await unlessNotFound(this.core.readNamespacedConfigMap({ name: RevocationStore.configMapName(account), namespace: this.namespace }));
    if (!configMap) {
      this.versions.set(account, '');
      return new Map();
    }
    this.versions.set(account, configMap.metadata?.resourceVersion ?? '');
    const entries = new Map<string, RevocationEntry>();
    for (const [user, value] of Object.entries(configMap.data ?? {})) {
      const entry = parseEntry(value);
      if (entry) entries.set(user, entry);
    }
    return entries;
  }

  /**
   * Replaces the stored entries with `entries`, guarded by the resourceVersion last loaded or
   * written. A 409 means someone else wrote it: load again and merge.
   */
  async save(account: string, entries: ReadonlyMap<string, RevocationEntry>): Promise<void> {
    const name = RevocationStore.configMapName(account);
    const data: Record<string, string> = {};
    for (const [user, entry] of [...entries].sort(([a], [b]) => byCodeUnits(a, b))) {
      data[user] = JSON.stringify({ revokedAt: iso(entry.revokedAt), expiresAt: iso(entry.expiresAt), access: entry.access });
    }
    const size = Object.entries(data).reduce((sum, [key, value]) => sum + key.length + value.length, 0);
    if (size > MAX_DATA_BYTES) {
      throw new Error(
        `the revocation list of account ${account} (${entries.size} unexpired entries) does not fit in ConfigMap ${name}: ` +
          'shorten the ttls, so that entries expire sooner',
      );
    }
    const resourceVersion = this.versions.get(account);
    const body: V1ConfigMap = {
      metadata: {
        name,
        namespace: this.namespace,
        labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE, [ACCOUNT_LABEL]: account },
        ...(resourceVersion ? { resourceVersion } : {}),
      },
      data,
    };
    const written = resourceVersion
      ? await this.core.replaceNamespacedConfigMap({ name, namespace: this.namespace, body, fieldManager: this.fieldManager })
      : await this.core.createNamespacedConfigMap({ namespace: this.namespace, body, fieldManager: this.fieldManager });
    this.versions.set(account, written.metadata?.resourceVersion ?? '');
  }
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
