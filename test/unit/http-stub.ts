// A stand-in API server on loopback for the unit tests of the operator's own client: HTTPS with
// HTTP/2 (as kube-apiserver speaks it), a throwaway CA, client certificates asked for and recorded.
// Each test answers requests with its own handler, and reads the requests it received and the TLS
// connections they came over.

import { createSecureServer, type Http2ServerResponse } from 'node:http2';
import type { AddressInfo, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { KubeClient } from '../../src/kube/api.ts';
import type { ClusterConfig, UserConfig } from '../../src/kube/kubeconfig.ts';
import { createCa, type CertificateAuthority } from '../env/pki.ts';

export interface StubRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  httpVersion: string;
  /** The subject CN of the client certificate, if one was presented. */
  clientName: string | undefined;
}

export type StubResponse = Http2ServerResponse;
export type StubHandler = (request: StubRequest, response: StubResponse) => void;

export interface HttpStub {
  url: string;
  ca: CertificateAuthority;
  requests: StubRequest[];
  /** TLS connections opened to the stub so far. */
  connections(): number;
  /** A client of the stub, as the operator makes one from a kubeconfig. */
  client(user?: UserConfig, cluster?: Partial<ClusterConfig>): KubeClient;
  /** Cuts every open connection, as a network failure would. */
  dropConnections(): void;
  close(): Promise<void>;
}

export const json = (response: StubResponse, status: number, body: unknown) => {
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(JSON.stringify(body));
};

let sharedCa: Promise<CertificateAuthority> | undefined;

export async function startHttpStub(handler: StubHandler): Promise<HttpStub> {
  const ca = await (sharedCa ??= createCa('wno-unit-stub-ca'));
  const serving = await ca.serverCert('127.0.0.1', [{ type: 'ip', value: '127.0.0.1' }]);
  const requests: StubRequest[] = [];
  const sockets = new Set<Socket>();
  let connections = 0;
  const clients: KubeClient[] = [];
  const server = createSecureServer({ cert: serving.certPem, key: serving.keyPem, ca: ca.certPem, requestCert: true, rejectUnauthorized: false, allowHTTP1: true }, (message, response) => {
    const chunks: Buffer[] = [];
    message.on('data', (chunk: Buffer) => chunks.push(chunk));
    message.on('end', () => {
      const url = new URL(message.url ?? '/', 'https://stub');
      const peer = (message.socket as TLSSocket).getPeerCertificate?.();
      const request: StubRequest = {
        method: message.method ?? '',
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        headers: message.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        httpVersion: message.httpVersion,
        clientName: peer && 'subject' in peer && peer.subject ? String(peer.subject.CN) : undefined,
      };
      requests.push(request);
      handler(request, response as Http2ServerResponse);
    });
  });
  server.on('secureConnection', (socket: Socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    ca,
    requests,
    connections: () => connections,
    client: (user = {}, cluster = {}) => {
      const client = new KubeClient({ source: 'test', server: url, ca: { data: ca.certPem }, insecureSkipTlsVerify: false, tlsServerName: undefined, user, ...cluster });
      clients.push(client);
      return client;
    },
    dropConnections: () => {
      for (const socket of sockets) socket.destroy();
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await Promise.all(clients.map((client) => client.transport.close().catch(() => undefined)));
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
