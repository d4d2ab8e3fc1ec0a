// The mutating admission webhook's HTTPS server: POST /mutate-pods takes an AdmissionReview (v1)
// and answers with a JSON patch from `mutate`. It never refuses a pod: anything it cannot read, or
// any error, is answered "allowed, unchanged", so the webhook can only add credentials. The TLS
// certificate can be swapped while serving (rotation).

import type { V1Pod } from '@kubernetes/client-node';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../log.ts';
import type { PatchOperation } from './pod-mutation.ts';

export interface ServingCertificate {
  cert: string;
  key: string;
}

export interface WebhookServerOptions {
  port: number;
  certificate: ServingCertificate;
  /** The patch for `pod` in `namespace`; may look things up. */
  mutate: (pod: V1Pod, namespace: string) => Promise<PatchOperation[]>;
  log: Logger;
}

interface AdmissionReview {
  apiVersion?: string;
  request?: { uid?: string; namespace?: string; operation?: string; kind?: { kind?: string }; object?: V1Pod };
}

const MAX_BODY = 8 * 1024 * 1024;

export class WebhookServer {
  private readonly options: WebhookServerOptions;
  private readonly server: Server;

  constructor(options: WebhookServerOptions) {
    this.options = options;
    this.server = createServer({ ...options.certificate, minVersion: 'TLSv1.2' }, (req, res) => {
      this.handle(req, res).catch((error: unknown) => {
        options.log.error({ error: (error as Error).message }, 'webhook request failed');
        if (!res.headersSent) res.writeHead(500).end();
      });
    });
  }

  /** Listens on all interfaces; resolves with the port (useful when it was 0). */
  async start(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port, () => resolve());
    });
    const address = this.server.address();
    const port = typeof address === 'object' && address ? address.port : this.options.port;
    this.options.log.info({ port }, 'webhook serving');
    return port;
  }

  /** Serves new connections with `certificate` from now on. */
  useCertificate(certificate: ServingCertificate): void {
    this.server.setSecureContext(certificate);
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse) {
    if (req.method === 'GET' && req.url === '/healthz') {
      res.writeHead(200).end('ok');
      return;
    }
    if (req.method !== 'POST' || req.url?.split('?')[0] !== '/mutate-pods') {
      res.writeHead(404).end();
      return;
    }
    let review: AdmissionReview;
    try {
      const parsed: unknown = JSON.parse(await readBody(req));
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('expected an object');
      review = parsed as AdmissionReview;
    } catch (error) {
      res.writeHead(400).end(`not an AdmissionReview: ${(error as Error).message}`);
      return;
    }
    const request = review.request;
    const response: Record<string, unknown> = { uid: request?.uid ?? '', allowed: true };
    if (request?.object && request.kind?.kind === 'Pod' && request.operation === 'CREATE') {
      try {
        const patch = await this.options.mutate(request.object, request.namespace ?? request.object.metadata?.namespace ?? '');
        if (patch.length > 0) {
          response.patchType = 'JSONPatch';
          response.patch = Buffer.from(JSON.stringify(patch)).toString('base64');
          this.options.log.info(
            { namespace: request.namespace, pod: request.object.metadata?.name ?? request.object.metadata?.generateName },
            'mounted NATS credentials into pod',
          );
        }
      } catch (error) {
        this.options.log.error({ error: (error as Error).message }, 'pod mutation failed; admitted unchanged');
      }
    }
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ apiVersion: review.apiVersion ?? 'admission.k8s.io/v1', kind: 'AdmissionReview', response }));
  }
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new Error('body too large');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}
