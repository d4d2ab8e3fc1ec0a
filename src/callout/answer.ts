// Answering one authorization request: open and check it, verify the token, find the live access
// (authorize.ts), sign its grant into a user JWT for the connection's own user key, and reply. A
// request that cannot be trusted gets no reply at all; a denial carries only its reason to the
// server (which logs it and tells the client "Authorization Violation"), and the operator's log
// has the details. Every outcome is counted in the metrics.

import type { KeyPair } from '@nats-io/nkeys';
import type { Msg, NatsConnection } from '@nats-io/transport-node';
import type { Clock } from '../api/clock.ts';
import { DenyReason } from '../api/reasons.ts';
import { Denial, verifyIdentityToken, type ProviderKeys, type VerifiedIdentity } from '../identity/tokens.ts';
import type { VerifiedTokens } from '../identity/verified-tokens.ts';
import type { IssuerKeys } from '../issuer/issuer-keys.ts';
import type { Logger } from '../log.ts';
import type { CalloutMetrics } from '../metrics.ts';
import {
  encodeAuthorizationReply,
  readAuthorizationRequest,
  RequestRefused,
  SERVER_XKEY_HEADER,
  type AuthorizationRequest,
  type ResponseSigner,
} from '../nats/callout.ts';
import { signUserJwt } from '../nats/credentials.ts';
import type { XKey } from '../nats/xkey.ts';
import { authorize, type CalloutView } from './authorize.ts';
import type { ReplayGuard } from './replay-guard.ts';

/** One callout's live connection and keys. */
export interface Runtime {
  version: string;
  nc: NatsConnection;
  signer: ResponseSigner;
  xkey: XKey;
  providers: ProviderKeys[];
}

export interface AnswerDeps {
  log: Logger;
  clock: Clock;
  keys: IssuerKeys;
  replays: ReplayGuard;
  /** Tokens verified before, so that a reconnect is not verified again. */
  verified: VerifiedTokens<VerifiedIdentity>;
  /** The caches' view for a callout; undefined before they started. */
  view: (calloutName: string) => CalloutView | undefined;
  metrics?: CalloutMetrics;
}

export async function answerRequest(deps: AnswerDeps, calloutName: string, runtime: Runtime, msg: Msg): Promise<void> {
  const { log } = deps;
  const started = performance.now();
  const record = (result: 'allowed' | 'denied' | 'dropped', reason: string) =>
    deps.metrics?.request({ callout: calloutName, result, reason }, (performance.now() - started) / 1000);
  const now = deps.clock();
  let request: AuthorizationRequest;
  try {
    request = readAuthorizationRequest(msg.data, msg.headers?.get(SERVER_XKEY_HEADER) || undefined, runtime.xkey, now);
  } catch (error) {
    // Not from a server we can trust: no answer at all (the server times the client out).
    const message = error instanceof RequestRefused ? error.message : `unreadable request: ${(error as Error).message}`;
    log.warn({ callout: calloutName, message }, 'callout request dropped');
    record('dropped', 'RequestRefused');
    return;
  }
  const context = { callout: calloutName, server: request.serverName, client: { host: request.client.host, id: request.client.id, name: request.client.name } };
  let answer: { jwt: string } | { error: string };
  let outcome: ['allowed' | 'denied', string];
  try {
    if (!request.token) throw new Denial(DenyReason.NoToken, 'CONNECT has no auth_token');
    const identity = await verifyIdentityToken(request.token, runtime.providers, now, deps.verified);
    deps.replays.check(identity, request.client.host, now);
    const view = deps.view(calloutName);
    if (!view) throw new Error('callout caches not started');
    const decision = authorize(identity, view, now);
    let signingKey: KeyPair;
    try {
      signingKey = deps.keys.accountSigningKey(decision.issuer);
    } catch (error) {
      throw new Denial(DenyReason.IssuerRefused, `issuer ${decision.issuer.metadata.name}: ${(error as Error).message}`);
    }
    const jwt = signUserJwt(
      { name: decision.userName, accountPublicKey: decision.grant.accountPublicKey, signingKey, grant: decision.grant.grant, tags: decision.grant.tags, expiresAt: decision.expiresAt },
      request.userNkey,
    );
    answer = { jwt };
    outcome = ['allowed', 'Allowed'];
    log.debug({ ...context, provider: identity.provider.name, access: decision.userName, expiresAt: decision.expiresAt.toISOString() }, 'callout login allowed');
  } catch (error) {
    const denial = error instanceof Denial ? error : new Denial(DenyReason.InternalError, (error as Error).message);
    answer = { error: denial.reason };
    outcome = ['denied', denial.reason];
    log.info({ ...context, reason: denial.reason, message: denial.message }, 'callout login denied');
  }
  try {
    msg.respond(encodeAuthorizationReply(request, runtime.signer, answer, runtime.xkey));
    record(...outcome);
  } catch (error) {
    log.error({ ...context, error: (error as Error).message }, 'callout answer failed');
  }
}
