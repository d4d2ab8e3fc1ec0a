// Serves the metrics registry for Prometheus: GET /metrics on plain HTTP (scrapes stay inside the
// cluster; the ServiceMonitor or scrape config points at the pod's port). Every replica serves
// its own: the callout runs on each.

import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';
import type { Logger } from '../log.ts';

export interface RunningMetricsServer {
  port: number;
  stop(): Promise<void>;
}

export async function serveMetrics(registry: Registry, port: number, log: Logger): Promise<RunningMetricsServer> {
  const server: Server = createServer((req, res) => {
    if (req.method !== 'GET' || req.url?.split('?')[0] !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (error: unknown) => {
        log.error({ error: (error as Error).message }, 'metrics collection failed');
        res.writeHead(500).end();
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, () => resolve());
  });
  const address = server.address();
  const bound = typeof address === 'object' && address ? address.port : port;
  log.info({ port: bound }, 'metrics serving');
  return {
    port: bound,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
