// Where `bootstrap` finds existing keys, for a team that already runs NATS in operator mode: an
// nsc store (its JWTs) with nsc's key store (seeds and creds), or seed and creds files given one
// by one. Produces only what the operator needs; errors name files and public keys, never seeds.
//
// nsc's layout: the store's operator folder holds <operator>.jwt and accounts/<name>/<name>.jwt;
// the key store ($NKEYS_PATH) holds every seed as keys/<K>/<EY>/<KEY...>.nk (first letter, next
// two, whole public key) and users' creds as creds/<operator>/<account>/<user>.creds.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { Account, Operator } from '@nats-io/jwt';
import { readCredentials } from '../nats/credentials.ts';
import { decodeJwt } from '../nats/native-jwt.ts';
import { parseSeed, type SeedKind } from '../nats/seeds.ts';
import type { OperatorMaterial } from './bootstrap-manifest.ts';
import type { KeySource } from './bootstrap-flags.ts';

function readText(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new Error(`${what}: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

/** A seed file's text, checked to be a seed of `kind` (the message names the file, not the seed). */
function seedFile(file: string, kind: SeedKind): string {
  const text = readText(file, `${kind} seed`).trim().split('\n')[0]?.trim() ?? '';
  parseSeed(text, kind, file);
  return text;
}

export function materialFromFiles(source: Extract<KeySource, { kind: 'files' }>, scoped: boolean): OperatorMaterial {
  const systemCreds = readText(source.systemCredsFile, '--system-creds-file');
  readCredentials(systemCreds);
  return {
    operatorSigningKeySeed: seedFile(source.operatorSigningKeyFile, 'operator'),
    systemCreds,
    workspaceAccount: { publicKey: source.accountPublicKey, signingKeySeed: seedFile(source.accountSigningKeyFile, 'account'), scoped },
  };
}

/** The operator folder of an nsc store: `dir` itself, or its only subfolder holding an operator JWT. */
function operatorFolder(dir: string): { folder: string; jwtFile: string } {
  const own = join(dir, `${basename(dir)}.jwt`);
  if (existsSync(own)) return { folder: dir, jwtFile: own };
  const candidates = readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(join(dir, entry.name, `${entry.name}.jwt`)))
    .map((entry) => entry.name);
  if (candidates.length !== 1) {
    throw new Error(`--from-nsc ${dir}: expected an nsc operator folder (<name>/<name>.jwt) or a store holding one, found ${candidates.length} operators`);
  }
  const name = candidates[0]!;
  return { folder: join(dir, name), jwtFile: join(dir, name, `${name}.jwt`) };
}

/** The seed of the first of `publicKeys` that nsc's key store holds. */
function storedSeed(keysDir: string, publicKeys: string[], kind: SeedKind, what: string): string {
  for (const key of publicKeys) {
    const file = join(keysDir, 'keys', key.slice(0, 1), key.slice(1, 3), `${key}.nk`);
    if (existsSync(file)) return seedFile(file, kind);
  }
  throw new Error(`${what}: no seed of ${publicKeys.length > 0 ? publicKeys.join(', ') : '(no keys listed)'} under ${join(keysDir, 'keys')}`);
}

export function materialFromNsc(source: Extract<KeySource, { kind: 'nsc' }>, accountName: string, scoped: boolean): OperatorMaterial {
  const { folder, jwtFile } = operatorFolder(source.storeDir);
  const operator = decodeJwt<Operator>(readText(jwtFile, 'operator JWT').trim());
  const accountsDir = join(folder, 'accounts');
  const accountJwt = (name: string) => decodeJwt<Account>(readText(join(accountsDir, name, `${name}.jwt`), `account ${name}`).trim());
  const account = accountJwt(accountName);

  const operatorSigningKeySeed = storedSeed(source.keysDir, (operator.nats.signing_keys ?? []).map((key) => (typeof key === 'string' ? key : key.key)), 'operator', `operator ${operator.name}'s signing keys`);
  // A scoped key is listed as an object with its template; a plain one as its public key.
  const listed = account.nats.signing_keys ?? [];
  const keys = listed.flatMap((key) => (typeof key === 'string' ? (scoped ? [] : [key]) : scoped ? [key.key] : []));
  const accountSigningKeySeed = storedSeed(source.keysDir, keys, 'account', `account ${accountName}'s ${scoped ? 'scoped' : 'plain'} signing keys`);

  const systemAccount = operator.nats.system_account;
  const systemName = readdirSync(accountsDir).find((name) => existsSync(join(accountsDir, name, `${name}.jwt`)) && accountJwt(name).sub === systemAccount);
  if (!systemAccount || !systemName) throw new Error(`operator ${operator.name}: no system account in ${accountsDir} (nsc add operator --sys)`);
  const credsDir = join(source.keysDir, 'creds', operator.name, systemName);
  const credsFile = existsSync(credsDir) ? readdirSync(credsDir).filter((file) => file.endsWith('.creds')).sort()[0] : undefined;
  if (!credsFile) throw new Error(`no creds of a ${systemName} user in ${credsDir} (nsc add user -a ${systemName})`);
  const systemCreds = readText(join(credsDir, credsFile), 'system user creds');
  if (readCredentials(systemCreds).accountPublicKey !== systemAccount) throw new Error(`${join(credsDir, credsFile)} is not a user of the system account`);
  return { operatorSigningKeySeed, systemCreds, workspaceAccount: { publicKey: account.sub, signingKeySeed: accountSigningKeySeed, scoped } };
}
