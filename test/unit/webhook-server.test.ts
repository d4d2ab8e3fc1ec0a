// The webhook's HTTPS server on loopback (no Kubernetes): it answers AdmissionReviews with the
// mutation's patch, never refuses a pod, and serves a new certificate once it is swapped, whether
// handed over directly or re-read from a certificate directory (cert-manager's way).

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { connect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { readCertDir, watchCertDir } from '../../src/webhook/certificates.ts';
import { WebhookServer } from '../../src/webhook/server.ts';
import { createCa } from '../env/pki.ts';

const log = pino({ level: 'silent' });

async function serving(ca: Awaited<ReturnType<typeof createCa>>) {
  const pair = await ca.serverCert('127.0.0.1', [{ type: 'ip', value: '127.0.0.1' }]);
  return { cert: pair.certPem, key: pair.keyPem };
}

/** The serial number of the certificate the server presents. */
function servedSerial(port: number, caPem: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ca: caPem }, () => {
      resolve(socket.getPeerCertificate().serialNumber);
      socket.end();
    });
    socket.on('error', reject);
  });
}

function post(port: number, caPem: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/mutate-pods', method: 'POST', ca: caPem, headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.on('data', (chunk) => (text += chunk));
      res.on('end', () => {
        let json: Record<string, unknown> = {};
        try {
          json = JSON.parse(text) as Record<string, unknown>;
        } catch {
          // A plain-text refusal.
        }
        resolve({ status: res.statusCode ?? 0, json });
      });
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

const review = (object: unknown) => ({
  apiVersion: 'admission.k8s.io/v1',
  kind: 'AdmissionReview',
  request: { uid: 'u-1', namespace: 'ns', operation: 'CREATE', kind: { kind: 'Pod' }, object },
});

describe('the webhook server', () => {
  let ca: Awaited<ReturnType<typeof createCa>>;
  beforeAll(async () => {
    ca = await createCa();
  });

  test('answers with the patch, and allows unchanged when the mutation fails', async () => {
    const server = new WebhookServer({
      port: 0,
      certificate: await serving(ca),
      log,
      mutate: async (pod) => {
        if (pod.metadata?.name === 'boom') throw new Error('lookup failed');
        return [{ op: 'add', path: '/metadata/annotations', value: { a: 'b' } }];
      },
    });
    const port = await server.start();
    try {
      const ok = await post(port, ca.certPem, review({ metadata: { name: 'p' } }));
      expect(ok.status).toBe(200);
      expect(ok.json.response).toMatchObject({ uid: 'u-1', allowed: true, patchType: 'JSONPatch' });
      const patch = JSON.parse(Buffer.from(String((ok.json.response as { patch: string }).patch), 'base64').toString());
      expect(patch).toEqual([{ op: 'add', path: '/metadata/annotations', value: { a: 'b' } }]);
      const failed = await post(port, ca.certPem, review({ metadata: { name: 'boom' } }));
      expect(failed.json.response).toEqual({ uid: 'u-1', allowed: true });
      // A review without a request is allowed; bodies that are no object are refused, and the
      // server lives on.
      expect((await post(port, ca.certPem, { kind: 'AdmissionReview' })).json.response).toEqual({ uid: '', allowed: true });
      expect((await post(port, ca.certPem, 'not a review')).status).toBe(400);
      expect((await post(port, ca.certPem, null)).status).toBe(400);
      expect((await post(port, ca.certPem, [1])).status).toBe(400);
      expect((await post(port, ca.certPem, review({ metadata: { name: 'p' } }))).status).toBe(200);
    } finally {
      await server.stop();
    }
  });

  test('serves a swapped certificate, also one re-read from its directory', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wno-webhook-tls-'));
    const write = (pair: { cert: string; key: string }) => {
      writeFileSync(join(dir, 'tls.key'), pair.key);
      writeFileSync(join(dir, 'tls.crt'), pair.cert);
    };
    write(await serving(ca));
    const server = new WebhookServer({ port: 0, certificate: readCertDir(dir), log, mutate: async () => [] });
    const port = await server.start();
    const stopWatching = watchCertDir(dir, (next) => server.useCertificate(next), log, 50);
    try {
      const first = await servedSerial(port, ca.certPem);
      server.useCertificate(await serving(ca));
      const second = await servedSerial(port, ca.certPem);
      expect(second).not.toBe(first);
      write(await serving(ca));
      let third = second;
      for (let i = 0; i < 100 && third === second; i++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        third = await servedSerial(port, ca.certPem);
      }
      expect(third).not.toBe(second);
    } finally {
      stopWatching();
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
