// The webhook's serving certificate, from one of two places:
// - a directory holding tls.crt and tls.key (a Secret mounted there, issued and renewed by
//   cert-manager, whose CA injector keeps the webhook configuration's caBundle current), re-read
//   when it changes; or
// - made by the operator itself: a CA (10 years, replaced with one left) and a serving certificate
//   (1 year, replaced when a third of its life is left) kept in a Secret of the operator's
//   namespace, shared by every replica, with the CA (the old one beside it for a while after a
//   replacement) written into the MutatingWebhookConfiguration's caBundle.
// Certificates are generated with @peculiar/x509 over Node's WebCrypto (Node cannot make X.509
// certificates itself).

import type { V1Secret } from '@kubernetes/client-node';
import 'reflect-metadata'; // @peculiar/x509 (through tsyringe) needs a Reflect polyfill loaded first
import * as x509 from '@peculiar/x509';
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { webcrypto } from 'node:crypto';
import type { AdmissionApi, CoreApi, KubeClient } from '../kube/api.ts';
import { isConflict, unlessNotFound } from '../kube/errors.ts';
import { systemClock, type Clock } from '../api/clock.ts';
import type { Logger } from '../log.ts';
import type { ServingCertificate } from './server.ts';

x509.cryptoProvider.set(webcrypto);

const DAY = 24 * 3600 * 1000;
const EC = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGN = { name: 'ECDSA', hash: 'SHA-256' } as const;

/** Reads tls.crt and tls.key from `dir`. */
export function readCertDir(dir: string): ServingCertificate {
  return { cert: readFileSync(join(dir, 'tls.crt'), 'utf8'), key: readFileSync(join(dir, 'tls.key'), 'utf8') };
}

/** Calls `onChange` with the new pair whenever tls.crt changes (checked every `intervalMs`); returns a stop function. */
export function watchCertDir(
  dir: string,
  onChange: (certificate: ServingCertificate) => void,
  log: Logger,
  intervalMs = 10_000,
): () => void {
  const file = join(dir, 'tls.crt');
  watchFile(file, { interval: intervalMs }, () => {
    try {
      onChange(readCertDir(dir));
      log.info({ dir }, 'webhook certificate reloaded');
    } catch (error) {
      log.error({ dir, error: (error as Error).message }, 'webhook certificate could not be reloaded');
    }
  });
  return () => unwatchFile(file);
}

export interface SelfSignedOptions {
  client: KubeClient;
  namespace: string;
  /** Secret holding ca.crt, ca.key, tls.crt and tls.key. */
  secretName: string;
  /** MutatingWebhookConfiguration whose webhooks get the CA as caBundle. */
  configName: string;
  /** DNS names and IP addresses the certificate is for. */
  hosts: string[];
  log: Logger;
  clock?: Clock;
}

/** Keeps a self-made CA and serving certificate in a Secret, and the CA in the webhook configuration. */
export class SelfSignedCertificates {
  private readonly options: SelfSignedOptions;
  private readonly core: CoreApi;
  private readonly admission: AdmissionApi;

  constructor(options: SelfSignedOptions) {
    this.options = options;
    this.core = options.client.core;
    this.admission = options.client.admission;
  }

  /** A valid serving certificate: the stored one, or a new one stored for every replica. */
  async ensure(): Promise<ServingCertificate> {
    const { namespace, secretName } = this.options;
    const now = (this.options.clock ?? systemClock)();
    for (let attempt = 0; ; attempt++) {
      const stored = await this.read();
      const data = stored?.data ?? {};
      const text = (key: string) => (data[key] ? Buffer.from(data[key], 'base64').toString('utf8') : '');
      const storedCa = text('ca.crt') && text('ca.key') ? { cert: text('ca.crt'), key: text('ca.key') } : undefined;
      const ca = storedCa && remaining(storedCa.cert, now) >= 365 * DAY ? storedCa : undefined;
      const serving = { cert: text('tls.crt'), key: text('tls.key') };
      if (ca && serving.cert && remaining(serving.cert, now) > 120 * DAY && coversHosts(serving.cert, this.options.hosts)) {
        await this.injectCaBundle(text('ca-bundle.crt') || ca.cert);
        return serving;
      }
      const authority = ca ?? (await newAuthority(now));
      // A new CA is trusted beside the old one, so that replicas still serving a certificate of the
      // old CA (until their next check) keep working.
      const bundle = ca || !storedCa ? (text('ca-bundle.crt') || authority.cert) : `${authority.cert}${storedCa.cert}`;
      const next = await issueServing(authority, this.options.hosts, now);
      const body: V1Secret = {
        metadata: { name: secretName, namespace, ...(stored ? { resourceVersion: stored.metadata?.resourceVersion } : {}) },
        type: 'Opaque',
        stringData: { 'ca.crt': authority.cert, 'ca.key': authority.key, 'ca-bundle.crt': bundle, 'tls.crt': next.cert, 'tls.key': next.key },
      };
      try {
        if (stored) await this.core.replaceNamespacedSecret({ name: secretName, namespace, body });
        else await this.core.createNamespacedSecret({ namespace, body });
      } catch (error) {
        // Another replica wrote it first: use theirs.
        if (isConflict(error) && attempt < 3) continue;
        throw error;
      }
      this.options.log.info({ secret: `${namespace}/${secretName}`, hosts: this.options.hosts }, 'issued webhook serving certificate');
      await this.injectCaBundle(bundle);
      return next;
    }
  }

  private read(): Promise<V1Secret | undefined> {
    return unlessNotFound(this.core.readNamespacedSecret({ name: this.options.secretName, namespace: this.options.namespace }));
  }

  /** Writes the CA bundle into every webhook of the configuration, when it differs. */
  private async injectCaBundle(caPem: string) {
    const name = this.options.configName;
    const caBundle = Buffer.from(caPem).toString('base64');
    for (let attempt = 0; ; attempt++) {
      const config = await unlessNotFound(this.admission.readMutatingWebhookConfiguration({ name }));
      if (!config) {
        this.options.log.warn({ config: name }, 'MutatingWebhookConfiguration not found; apply manifests/webhook.yaml');
        return;
      }
      if ((config.webhooks ?? []).every((webhook) => webhook.clientConfig.caBundle === caBundle)) return;
      for (const webhook of config.webhooks ?? []) webhook.clientConfig.caBundle = caBundle;
      try {
        await this.admission.replaceMutatingWebhookConfiguration({ name, body: config });
        this.options.log.info({ config: name }, 'webhook caBundle updated');
        return;
      } catch (error) {
        // Another replica wrote it at the same time: read it again.
        if (!isConflict(error) || attempt >= 3) throw error;
      }
    }
  }
}

function remaining(pem: string, now: Date): number {
  try {
    return new x509.X509Certificate(pem).notAfter.getTime() - now.getTime();
  } catch {
    return 0;
  }
}

function coversHosts(pem: string, hosts: string[]): boolean {
  try {
    const names = new x509.X509Certificate(pem).getExtension(x509.SubjectAlternativeNameExtension)?.names.toJSON() ?? [];
    return hosts.every((host) => names.some((name) => name.value === host));
  } catch {
    return false;
  }
}

async function keyPair() {
  return (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
}

async function pem(key: webcrypto.CryptoKey) {
  return x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}

async function newAuthority(now: Date): Promise<ServingCertificate> {
  const keys = await keyPair();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: 'CN=workspace-nats-operator webhook CA',
    keys,
    signingAlgorithm: SIGN,
    notBefore: new Date(now.getTime() - 3600_000),
    notAfter: new Date(now.getTime() + 3650 * DAY),
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert: cert.toString('pem'), key: await pem(keys.privateKey) };
}

async function issueServing(authority: ServingCertificate, hosts: string[], now: Date): Promise<ServingCertificate> {
  const caCert = new x509.X509Certificate(authority.cert);
  const caKey = await webcrypto.subtle.importKey(
    'pkcs8',
    x509.PemConverter.decodeFirst(authority.key),
    EC,
    false,
    ['sign'],
  );
  const keys = await keyPair();
  const cert = await x509.X509CertificateGenerator.create({
    subject: `CN=${hosts[0] ?? 'workspace-nats-operator'}`,
    issuer: caCert.subject,
    publicKey: keys.publicKey,
    signingKey: caKey,
    signingAlgorithm: SIGN,
    notBefore: new Date(now.getTime() - 3600_000),
    notAfter: new Date(now.getTime() + 365 * DAY),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      await x509.AuthorityKeyIdentifierExtension.create(caCert.publicKey),
      new x509.SubjectAlternativeNameExtension(hosts.map((host) => ({ type: isIP(host) ? 'ip' : 'dns', value: host }))),
    ],
  });
  return { cert: cert.toString('pem'), key: await pem(keys.privateKey) };
}
