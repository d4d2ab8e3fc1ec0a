// The plain-HTTP endpoints a cluster asks the operator about: GET /metrics for Prometheus,
// /healthz for the kubelet's liveness probe, /readyz (?verbose) for its readiness probe. Every
// replica serves its own (the callouts and the webhook run on each); scrapes and probes stay
// inside the cluster, so no TLS.

import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';
import type { Logger } from '../log.ts';
import { EventLoopHeartbeat, type Readiness } from './health.ts';

export interface MonitoringOptions {
  registry: Registry;
  readiness: Readiness;
  port: number;
  log: Logger;
}

export interface RunningMonitoring {
  port: number;
  stop(): Promise<void>;
}

const TEXT = { 'content-type': 'text/plain; charset=utf-8' };

export async function serveMonitoring(options: MonitoringOptions): Promise<RunningMonitoring> {
  const { registry, readiness, log } = options;
  const heartbeat = new EventLoopHeartbeat();
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method !== 'GET') return void res.writeHead(405, TEXT).end();
    switch (url.pathname) {
      case '/metrics':
        registry.metrics().then(
          (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
          (error: unknown) => {
            log.error({ error: (error as Error).message }, 'metrics collection failed');
            res.writeHead(500, TEXT).end();
          },
        );
        return;
      case '/healthz': {
        const problem = heartbeat.problem();
        if (problem) log.warn({ problem }, 'not healthy');
        return void res.writeHead(problem ? 500 : 200, TEXT).end(problem ? `[-]event-loop failed: ${problem}\nhealthz check failed\n` : 'ok\n');
      }
      case '/readyz': {
        const { ready, body } = readiness.report(url.searchParams.has('verbose'));
        return void res.writeHead(ready ? 200 : 500, TEXT).end(body);
      }
      default:
        res.writeHead(404, TEXT).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, () => resolve());
  });
  heartbeat.start();
  const address = server.address();
  const bound = typeof address === 'object' && address ? address.port : options.port;
  log.info({ port: bound }, 'serving /metrics, /healthz and /readyz');
  return {
    port: bound,
    stop: () => {
      heartbeat.stop();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
