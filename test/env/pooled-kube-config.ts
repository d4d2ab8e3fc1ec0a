// For the tests' and scripts' own @kubernetes/client-node clients (the operator has its own client,
// src/kube/api.ts): a KubeConfig whose API clients and watches share one connection pool per cluster.
// @kubernetes/client-node 2.0.1 builds a new undici dispatcher for every request
// (applySecurityAuthentication -> createDispatcher), so each API call opens a new TLS connection
// and the API server pays for a handshake every time. No release shares them, hence this class.

import { bufferFromFileOrString, KubeConfig, type RequestContext } from '@kubernetes/client-node';
import { createHash } from 'node:crypto';

type Dispatcher = NonNullable<ReturnType<RequestContext['getDispatcher']>>;

export class PooledKubeConfig extends KubeConfig {
  private pool: { key: string; dispatcher: Dispatcher } | undefined;

  /**
   * Lets the library apply authentication as it does (headers, client certificates, proxy), then
   * sends the request through the pooled dispatcher while the TLS identity and endpoint are the
   * ones it was made for. When they change (a rotated client certificate or CA), the new
   * dispatcher becomes the pool and the old one closes once its requests are done.
   */
  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    await super.applySecurityAuthentication(context);
    const made = context.getDispatcher();
    if (!made) return;
    const key = this.dispatcherKey();
    if (this.pool?.key === key) {
      // `made` never connected: nothing to close.
      context.setDispatcher(this.pool.dispatcher);
      return;
    }
    const old = this.pool;
    this.pool = { key, dispatcher: made };
    old?.dispatcher.close().catch(() => undefined);
  }

  /** What the dispatcher depends on: the endpoint, how TLS is checked, and the client's TLS identity. */
  private dispatcherKey(): string {
    const cluster = this.getCurrentCluster();
    const user = this.getCurrentUser();
    const hash = createHash('sha256');
    for (const part of [
      cluster?.server,
      cluster?.proxyUrl,
      String(cluster?.skipTLSVerify),
      cluster?.tlsServerName,
      bufferFromFileOrString(cluster?.caFile, cluster?.caData),
      bufferFromFileOrString(user?.certFile, user?.certData),
      bufferFromFileOrString(user?.keyFile, user?.keyData),
    ]) {
      hash.update(part ?? '');
      hash.update('\0');
    }
    return hash.digest('hex');
  }
}
