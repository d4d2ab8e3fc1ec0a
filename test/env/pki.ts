// Owns the test cluster's key material: a throwaway CA, the apiserver serving certificate, client
// certificates for any user/groups, and the service-account token signing key pair. Everything is
// generated in memory at run time (ECDSA P-256 via Node's webcrypto) and returned as PEM.
import 'reflect-metadata'; // @peculiar/x509 (through tsyringe) needs a Reflect polyfill loaded first
import * as x509 from '@peculiar/x509';
import { webcrypto } from 'node:crypto';

// The tsconfig has no DOM lib, so the WebCrypto types come from Node's module.
type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

x509.cryptoProvider.set(webcrypto);

const EC: webcrypto.EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' };
const SIGN: webcrypto.EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' };
const DAY = 24 * 3600 * 1000;

export interface CertAndKey {
  certPem: string;
  keyPem: string;
}

/** A CA that can sign more certificates, in this process or (loaded from PEM) in a test worker. */
export interface CertificateAuthority extends CertAndKey {
  /** Client certificate: the apiserver maps CN to the user name and each O to a group. */
  clientCertFor(user: string, groups: string[]): Promise<CertAndKey>;
  serverCert(commonName: string, sans: x509.JsonGeneralName[]): Promise<CertAndKey>;
}

export interface ClusterPki {
  ca: CertificateAuthority;
  apiserver: CertAndKey;
  /** user `admin`, group `system:masters` */
  admin: CertAndKey;
  /** `system:kube-controller-manager`, which the default RBAC roles already cover */
  controllerManager: CertAndKey;
  serviceAccount: { publicKeyPem: string; privateKeyPem: string };
}

async function newKeys(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as CryptoKeyPair;
}

async function privatePem(key: CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}

async function publicPem(key: CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await webcrypto.subtle.exportKey('spki', key), 'PUBLIC KEY');
}

/** RFC 4514 value escaping, so group names such as `system:masters` or `a,b` stay one RDN value. */
function rdn(type: string, value: string): string {
  return `${type}=${value.replace(/([,+"\\<>;=#])/g, '\\$1')}`;
}

// Backdated so a cert is valid even if the apiserver's clock is a little behind ours.
const validity = () => ({ notBefore: new Date(Date.now() - 3600_000), notAfter: new Date(Date.now() + 30 * DAY) });

function authority(cert: x509.X509Certificate, signingKey: CryptoKey, keyPem: string): CertificateAuthority {
  const issue = async (subject: string, usage: 'server' | 'client', sans: x509.JsonGeneralName[]): Promise<CertAndKey> => {
    const keys = await newKeys();
    const extensions: x509.Extension[] = [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([usage === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth]),
      await x509.AuthorityKeyIdentifierExtension.create(cert.publicKey),
    ];
    if (sans.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(sans));
    const leaf = await x509.X509CertificateGenerator.create({
      subject,
      issuer: cert.subject,
      publicKey: keys.publicKey,
      signingKey,
      signingAlgorithm: SIGN,
      extensions,
      ...validity(),
    });
    return { certPem: leaf.toString('pem'), keyPem: await privatePem(keys.privateKey) };
  };
  return {
    certPem: cert.toString('pem'),
    keyPem,
    clientCertFor: (user, groups) => issue([rdn('CN', user), ...groups.map((g) => rdn('O', g))].join(', '), 'client', []),
    serverCert: (commonName, sans) => issue(rdn('CN', commonName), 'server', sans),
  };
}

export async function createCa(name = 'wno-test-ca'): Promise<CertificateAuthority> {
  const keys = await newKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: rdn('CN', name),
    keys,
    signingAlgorithm: SIGN,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
    ...validity(),
  });
  return authority(cert, keys.privateKey, await privatePem(keys.privateKey));
}

/** The CA written by createCa, loaded back (e.g. in a jest worker from the env state file). */
export async function loadCa(certPem: string, keyPem: string): Promise<CertificateAuthority> {
  const cert = new x509.X509Certificate(certPem);
  const key = await webcrypto.subtle.importKey('pkcs8', x509.PemConverter.decodeFirst(keyPem), EC, true, ['sign']);
  return authority(cert, key, keyPem);
}

export async function createClusterPki(): Promise<ClusterPki> {
  const ca = await createCa();
  const dns = ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local'];
  const apiserver = await ca.serverCert('kube-apiserver', [
    { type: 'ip', value: '127.0.0.1' },
    // First IP of the service CIDR (see kube.ts): what in-cluster clients dial.
    { type: 'ip', value: '10.0.0.1' },
    ...dns.map((value) => ({ type: 'dns' as const, value })),
  ]);
  const saKeys = await newKeys();
  return {
    ca,
    apiserver,
    admin: await ca.clientCertFor('admin', ['system:masters']),
    controllerManager: await ca.clientCertFor('system:kube-controller-manager', []),
    serviceAccount: { publicKeyPem: await publicPem(saKeys.publicKey), privateKeyPem: await privatePem(saKeys.privateKey) },
  };
}
