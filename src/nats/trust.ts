// Making a NATS operator-mode trust from nothing: the operator and its signing key, the system
// account and a system user, the account workspace users live in with a plain and/or scoped
// signing key, and optionally an auth callout account (its auth user, xkey and sentinel). What
// `bootstrap` writes, and what the test environment runs its nats-servers with. Key generation is
// the only side effect; every account JWT is signed by the operator signing key, as a real
// deployment does, so the operator identity seed is not needed after this.

import { Algorithms, encodeAccount, encodeOperator, encodeUser, fmtCreds, newScopedSigner, type Account } from '@nats-io/jwt';
import { createAccount, createCurve, createOperator, createUser, type KeyPair } from '@nats-io/nkeys';

export interface NKeyMaterial {
  publicKey: string;
  seed: string;
}

export interface UserMaterial extends NKeyMaterial {
  jwt: string;
  creds: string;
}

/** The scoped signing key's role, and its template: a user tagged `ws:<id>` gets `ws.<id>.>` and its inbox. */
export const SCOPED_ROLE = 'workspace';
export const SCOPED_TEMPLATE = {
  pub: { allow: ['ws.{{tag(ws)}}.>'] },
  sub: { allow: ['ws.{{tag(ws)}}.>', '_INBOX_{{tag(ws)}}.>'] },
  subs: 100,
};
/** The user tags an issuer in scoped mode gives its users, matching SCOPED_TEMPLATE's `{{tag(ws)}}`. */
export const SCOPED_USER_TAGS = ['ws:{{workspace.id}}'];

export interface TrustOptions {
  operatorName: string;
  workspaceAccountName: string;
  /** Which signing keys the workspace account lists. */
  signingKeys: { plain: boolean; scoped: boolean };
  /** The auth callout account's name, when one is wanted. */
  calloutAccountName?: string | undefined;
}

export interface CalloutAccountMaterial extends NKeyMaterial {
  name: string;
  jwt: string;
  signingKey: NKeyMaterial;
  /** Curve key pair (public X..., seed SX...) the servers seal authorization requests to. */
  xkey: NKeyMaterial;
  /** The callout service's user (authorization.auth_users), signed by the account's signing key. */
  authUser: UserMaterial;
  /** A bearer user allowed nothing: what a workspace logs in as, with its token in CONNECT. */
  sentinel: UserMaterial;
}

export interface Trust {
  operator: NKeyMaterial & { name: string; jwt: string; signingKey: NKeyMaterial };
  systemAccount: NKeyMaterial & { name: 'SYS'; jwt: string };
  /** A user of SYS (signed by the SYS identity key), to push account JWT updates. */
  systemUser: UserMaterial;
  workspaceAccount: NKeyMaterial & {
    name: string;
    jwt: string;
    signingKey: NKeyMaterial | undefined;
    scopedSigningKey: (NKeyMaterial & { role: string }) | undefined;
  };
  calloutAccount: CalloutAccountMaterial | undefined;
}

const material = (kp: KeyPair): NKeyMaterial => ({ publicKey: kp.getPublicKey(), seed: new TextDecoder().decode(kp.getSeed()) });
// Without explicit limits an account JWT reads as "0 connections allowed".
const UNLIMITED: Account['limits'] = { subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1 };
const v2 = { algorithm: Algorithms.v2 };
const credsText = (jwt: string, kp: KeyPair) => new TextDecoder().decode(fmtCreds(jwt, kp));

export async function createTrust(options: TrustOptions): Promise<Trust> {
  const operator = createOperator();
  const operatorSigner = createOperator();
  const sys = createAccount();
  const sysUser = createUser();
  const ws = createAccount();
  const wsSigner = options.signingKeys.plain ? createAccount() : undefined;
  const wsScopedSigner = options.signingKeys.scoped ? createAccount() : undefined;
  if (!wsSigner && !wsScopedSigner) throw new Error('the workspace account needs a plain or a scoped signing key');
  const signedByOperator = { ...v2, signer: operatorSigner };

  const operatorJwt = await encodeOperator(
    options.operatorName,
    operator,
    { signing_keys: [operatorSigner.getPublicKey()], system_account: sys.getPublicKey() },
    v2,
  );
  const sysJwt = await encodeAccount('SYS', sys.getPublicKey(), { limits: UNLIMITED }, signedByOperator);
  const signingKeys = [
    ...(wsSigner ? [wsSigner.getPublicKey()] : []),
    ...(wsScopedSigner ? [newScopedSigner(wsScopedSigner, SCOPED_ROLE, SCOPED_TEMPLATE)] : []),
  ];
  const wsJwt = await encodeAccount(options.workspaceAccountName, ws.getPublicKey(), { limits: UNLIMITED, signing_keys: signingKeys }, signedByOperator);
  const sysUserJwt = await encodeUser('sys', sysUser, sys, {}, v2);
  return {
    operator: { ...material(operator), name: options.operatorName, jwt: operatorJwt, signingKey: material(operatorSigner) },
    systemAccount: { ...material(sys), name: 'SYS', jwt: sysJwt },
    systemUser: { ...material(sysUser), jwt: sysUserJwt, creds: credsText(sysUserJwt, sysUser) },
    workspaceAccount: {
      ...material(ws),
      name: options.workspaceAccountName,
      jwt: wsJwt,
      signingKey: wsSigner && material(wsSigner),
      scopedSigningKey: wsScopedSigner && { ...material(wsScopedSigner), role: SCOPED_ROLE },
    },
    calloutAccount: options.calloutAccountName
      ? await createCalloutAccount(options.calloutAccountName, ws.getPublicKey(), operatorSigner)
      : undefined,
  };
}

/**
 * The auth callout account: its JWT names the auth user as the one that answers
 * `$SYS.REQ.USER.AUTH`, `allowedAccount` as the account answers may place users in, and the xkey.
 * Every other user of it (the sentinel) is sent to the callout.
 */
async function createCalloutAccount(name: string, allowedAccount: string, operatorSigner: KeyPair): Promise<CalloutAccountMaterial> {
  const auth = createAccount();
  const authSigner = createAccount();
  const xkey = createCurve();
  const authUser = createUser();
  const sentinel = createUser();
  const jwt = await encodeAccount(
    name,
    auth.getPublicKey(),
    {
      limits: UNLIMITED,
      signing_keys: [authSigner.getPublicKey()],
      authorization: { auth_users: [authUser.getPublicKey()], allowed_accounts: [allowedAccount], xkey: xkey.getPublicKey() },
    },
    { ...v2, signer: operatorSigner },
  );
  // Both users are signed by the signing key (encodeUser then sets issuer_account).
  const signedByAuth = { ...v2, signer: authSigner };
  const authUserJwt = await encodeUser('auth-callout', authUser, auth, {}, signedByAuth);
  const denyAll = { deny: ['>'] };
  const sentinelJwt = await encodeUser('sentinel', sentinel, auth, { bearer_token: true, pub: denyAll, sub: denyAll }, signedByAuth);
  return {
    ...material(auth),
    name,
    jwt,
    signingKey: material(authSigner),
    xkey: material(xkey),
    authUser: { ...material(authUser), jwt: authUserJwt, creds: credsText(authUserJwt, authUser) },
    sentinel: { ...material(sentinel), jwt: sentinelJwt, creds: credsText(sentinelJwt, sentinel) },
  };
}

/** Every account JWT of `trust`, by public key: what a server's resolver_preload holds. */
export function accountJwts(trust: Trust): Record<string, string> {
  const accounts = [trust.systemAccount, trust.workspaceAccount, ...(trust.calloutAccount ? [trust.calloutAccount] : [])];
  return Object.fromEntries(accounts.map((account) => [account.publicKey, account.jwt]));
}
