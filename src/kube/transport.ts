// The operator's one connection pool to its API server, and JSON requests and watch streams over
// it. One undici Pool per cluster with HTTP/2 allowed (as client-go speaks it), so every request
// and watch share a connection, as test/e2e/connections.test.ts checks. When the TLS identity
// changes (a rotated CA or client certificate file, or a plugin's new certificate), a new Pool
// takes over and the old one closes once its requests are done.
//
// A failed call throws ApiError: `.code` is the HTTP status and `.body` the API server's Status,
// the shape errors.ts reads. Its message names the request (method and path), never its body
// (which may be a Secret).
//
// Every request is counted and timed for the metrics (client-go's rest_client ones): by its status
// code, or "<error>" when no answer came; a watch when it opens.

import { createRequire } from 'node:module';
import type { Dispatcher, Pool as UndiciPool } from 'undici';
import { Credentials, materialReader } from './credentials.ts';
import type { ClusterConfig } from './kubeconfig.ts';
import type { RequestMetrics } from '../metrics.ts';
import { splitLines } from './watch-events.ts';

// The 'undici' entry point also loads fetch, WebSocket, its caches and mocks, none of which this
// uses: with it the operator holds ~4 MiB more resident memory (2.7 MB of heap) than with the Pool
// and the request call alone. Deep paths of the pinned version (package.json); a version that
// moves them fails at the first import, in every test.
const require = createRequire(import.meta.url);
const Pool = require('undici/lib/dispatcher/pool.js') as typeof UndiciPool;
const request = require('undici/lib/api/api-request.js') as (this: Dispatcher, options: Dispatcher.RequestOptions) => Promise<Dispatcher.ResponseData>;

export class ApiError extends Error {
  /** The HTTP status. */
  readonly code: number;
  /** The API server's answer: a Status when it sent JSON, else its text. */
  readonly body: unknown;

  constructor(request: string, code: number, body: unknown) {
    const message = (body as { message?: unknown } | undefined)?.message;
    super(`${request}: HTTP ${code}${typeof message === 'string' ? `: ${message}` : ''}`);
    this.name = 'ApiError';
    this.code = code;
    this.body = body;
  }
}

export type Query = Record<string, string | number | boolean | undefined>;

const USER_AGENT = 'workspace-nats-operator';
/** How long a request may wait for an answer, or between two parts of it. */
const REQUEST_TIMEOUT_MS = 60_000;

const NO_REQUEST_METRICS: RequestMetrics = { request() {} };

interface PooledIdentity {
  pool: UndiciPool;
  ca: string | undefined;
  cert: string | undefined;
  key: string | undefined;
}

export class KubeTransport {
  /** The API server's URL. */
  readonly server: string;
  private readonly cluster: ClusterConfig;
  private readonly origin: string;
  private readonly basePath: string;
  private readonly host: string;
  private readonly credentials: Credentials;
  private readonly ca: { read(): string } | undefined;
  private readonly metrics: RequestMetrics;
  private current: PooledIdentity | undefined;

  constructor(cluster: ClusterConfig, metrics = NO_REQUEST_METRICS, credentials?: Credentials) {
    this.cluster = cluster;
    this.server = cluster.server;
    this.metrics = metrics;
    const url = new URL(cluster.server);
    this.origin = url.origin;
    this.host = url.host;
    this.basePath = url.pathname.replace(/\/+$/, '');
    this.ca = cluster.ca && materialReader(cluster.ca);
    this.credentials = credentials ?? new Credentials(cluster.user, { cluster: execClusterInfo(cluster) });
  }

  /**
   * Sends `body` as JSON to `path`; the answer parsed, or ApiError. `accept` names another JSON
   * media type to ask for (the API server serves its JWKS only as application/jwk-set+json).
   */
  async request<T>(method: Dispatcher.HttpMethod, path: string, options: { query?: Query; body?: unknown; signal?: AbortSignal; accept?: string; contentType?: string } = {}): Promise<T> {
    const started = performance.now();
    let code: number | undefined;
    let text: string;
    try {
      const response = await this.send(method, path, options.query, options.body, { signal: options.signal, accept: options.accept, contentType: options.contentType });
      code = response.statusCode;
      text = await response.body.text();
    } finally {
      this.count(method, code, started);
    }
    if (code < 200 || code >= 300) throw this.failure(method, path, code, text);
    if (text === '') return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      // Not quoted: JSON.parse's message would show part of it, which may be a Secret's data.
      throw new Error(`${method} ${path}: the answer (${text.length} characters) is not JSON`);
    }
  }

  /**
   * A streaming GET (a watch): calls `onLine` with each line as it arrives, and resolves when the
   * API server ends the response. `idleMs` ends it with an error when nothing arrived for that long.
   */
  async stream(path: string, query: Query, options: { signal: AbortSignal; idleMs: number }, onLine: (line: string) => void): Promise<void> {
    const started = performance.now();
    let response: Dispatcher.ResponseData | undefined;
    try {
      response = await this.send('GET', path, query, undefined, { signal: options.signal, bodyTimeout: options.idleMs });
    } finally {
      this.count('GET', response?.statusCode, started);
    }
    if (response.statusCode !== 200) throw this.failure('GET', path, response.statusCode, await response.body.text());
    response.body.setEncoding('utf8');
    let pending = '';
    try {
      for await (const chunk of response.body as AsyncIterable<string>) pending = splitLines(pending, chunk, onLine);
    } catch (error) {
      if (error instanceof ApiError) throw error;
      throw new Error(`GET ${path}: ${(error as Error).message}`, { cause: error });
    }
    splitLines(pending, '\n', onLine);
  }

  /** Closes the pool once its requests are done (abort watches first). */
  async close(): Promise<void> {
    const pool = this.current?.pool;
    this.current = undefined;
    await pool?.close();
  }

  private async send(method: Dispatcher.HttpMethod, path: string, query: Query | undefined, body: unknown, timing: { signal?: AbortSignal | undefined; bodyTimeout?: number; accept?: string | undefined; contentType?: string | undefined }): Promise<Dispatcher.ResponseData> {
    const identity = await this.credentials.identity();
    const pool = this.pool(identity.cert, identity.key);
    const headers: Record<string, string> = { accept: timing.accept ?? 'application/json', 'user-agent': USER_AGENT };
    if (identity.authorization) headers.authorization = identity.authorization;
    if (body !== undefined) headers['content-type'] = timing.contentType ?? 'application/json';
    const search = query ? new URLSearchParams(Object.entries(query).flatMap(([name, value]) => (value === undefined ? [] : [[name, String(value)] as [string, string]]))).toString() : '';
    let response: Dispatcher.ResponseData;
    try {
      response = await request.call(pool, {
        method,
        path: `${this.basePath}${path}${search ? `?${search}` : ''}`,
        headers,
        body: body === undefined ? null : JSON.stringify(body),
        signal: timing.signal ?? null,
        headersTimeout: REQUEST_TIMEOUT_MS,
        bodyTimeout: timing.bodyTimeout ?? REQUEST_TIMEOUT_MS,
      });
    } catch (error) {
      throw new Error(`${method} ${path}: ${(error as Error).message}`, { cause: error });
    }
    // Refused credentials: a rotated token file or an expired plugin credential is fetched again.
    if (response.statusCode === 401) this.credentials.invalidate();
    return response;
  }

  private count(method: string, code: number | undefined, started: number) {
    this.metrics.request(method, this.host, code === undefined ? '<error>' : String(code), (performance.now() - started) / 1000);
  }

  private failure(method: string, path: string, code: number, text: string): ApiError {
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // Not JSON (a proxy's page, say): kept as text.
    }
    return new ApiError(`${method} ${path}`, code, body);
  }

  /** The pool for the current TLS identity; a new one (the old one closing) when it changed. */
  private pool(cert: string | undefined, key: string | undefined): UndiciPool {
    const ca = this.ca?.read();
    const current = this.current;
    if (current && current.ca === ca && current.cert === cert && current.key === key) return current.pool;
    const { insecureSkipTlsVerify, tlsServerName } = this.cluster;
    const pool = new Pool(this.origin, {
      allowH2: true,
      connect: {
        ...(ca ? { ca } : {}),
        ...(cert && key ? { cert, key } : {}),
        rejectUnauthorized: !insecureSkipTlsVerify,
        ...(tlsServerName ? { servername: tlsServerName } : {}),
        // As client-go: notice a dead connection within a minute or so, before a load balancer's
        // idle timeout closes it silently.
        keepAlive: true,
        keepAliveInitialDelay: 30_000,
      },
    });
    this.current = { pool, ca, cert, key };
    current?.pool.close().catch(() => undefined);
    return pool;
  }
}

/** The cluster as an exec plugin with provideClusterInfo sees it (KUBERNETES_EXEC_INFO). */
function execClusterInfo(cluster: ClusterConfig) {
  const ca = cluster.ca && 'data' in cluster.ca ? cluster.ca.data : undefined;
  return {
    server: cluster.server,
    ...(ca ? { 'certificate-authority-data': Buffer.from(ca).toString('base64') } : {}),
    ...(cluster.insecureSkipTlsVerify ? { 'insecure-skip-tls-verify': true } : {}),
    ...(cluster.tlsServerName ? { 'tls-server-name': cluster.tlsServerName } : {}),
  };
}
