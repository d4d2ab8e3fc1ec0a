// The revoker's connection to NATS as a system account user, kept across cycles and replaced when
// the settings it was made with change (new servers or creds in an issuer's Secret) or it closed.

import type { NatsSettings, NatsSystemClient, SystemClientOptions } from '../nats/system-client.ts';

export class SystemConnection {
  private readonly connect: (options: SystemClientOptions) => Promise<NatsSystemClient>;
  private readonly onChange: () => void;
  private current: { version: string; client: NatsSystemClient } | undefined;
  /** A connect under way, which callers meanwhile wait for instead of opening their own. */
  private connecting: { version: string; client: Promise<NatsSystemClient> } | undefined;
  private attempts = 0;

  /** `onChange`: a server appeared or the connection came back (see NatsSystemClient). */
  constructor(connect: (options: SystemClientOptions) => Promise<NatsSystemClient>, onChange: () => void) {
    this.connect = connect;
    this.onChange = onChange;
  }

  /** A client connected with `settings`, reusing the last one while they have not changed. */
  async client(settings: NatsSettings): Promise<NatsSystemClient> {
    if (this.current && this.current.version === settings.connectionVersion && !this.current.client.isClosed) {
      return this.current.client;
    }
    if (this.connecting?.version === settings.connectionVersion) return this.connecting.client;
    const attempt = ++this.attempts;
    const client = this.open(settings, attempt);
    this.connecting = { version: settings.connectionVersion, client };
    try {
      return await client;
    } finally {
      if (this.attempts === attempt) this.connecting = undefined;
    }
  }

  private async open(settings: NatsSettings, attempt: number): Promise<NatsSystemClient> {
    await this.close();
    const client = await this.connect({ servers: settings.servers, creds: settings.creds, onChange: this.onChange });
    // Settings that changed meanwhile have a connect of their own: this one is not kept.
    if (this.attempts !== attempt && this.connecting) {
      await client.close();
      return this.connecting.client;
    }
    this.current = { version: settings.connectionVersion, client };
    return client;
  }

  async close(): Promise<void> {
    const current = this.current;
    this.current = undefined;
    await current?.client.close().catch(() => undefined);
  }
}
