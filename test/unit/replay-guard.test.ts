// ReplayGuard: a token is a bearer credential for its lifetime, so while it is valid it is let in
// from the address it first came from only; once it has expired it is forgotten.

import { IdentityProviderKind } from '../../src/api/cluster-nats-auth-callout.ts';
import { DenyReason } from '../../src/api/reasons.ts';
import { ReplayGuard } from '../../src/callout/replay-guard.ts';
import { Denial, type VerifiedIdentity } from '../../src/identity/tokens.ts';

const now = new Date('2026-12-01T10:00:00Z');
const at = (ms: number) => new Date(now.getTime() + ms);
const HOUR = 3_600_000;

const identity = (tokenHash: string, expiresAt = at(HOUR)): VerifiedIdentity => ({
  provider: { name: 'gitpod', kind: IdentityProviderKind.OIDC, issuerURL: 'https://idp.example', audiences: ['nats'], issuers: ['platform'] },
  workspaceId: 'ws1',
  expiresAt,
  tokenHash,
});

const replayed = (action: () => void): Denial => {
  try {
    action();
  } catch (error) {
    expect(error).toBeInstanceOf(Denial);
    expect((error as Denial).reason).toBe(DenyReason.TokenReplayed);
    return error as Denial;
  }
  throw new Error('token was let in again');
};

test('the same token from the same host is let in again (a reconnect)', () => {
  const guard = new ReplayGuard();
  const token = identity('hash-1');
  guard.check(token, '10.0.0.1', now);
  guard.check(token, '10.0.0.1', at(60_000));
  guard.check(token, '10.0.0.1', at(HOUR - 1));
});

test('the same token from another host while it is valid is TokenReplayed, every time', () => {
  const guard = new ReplayGuard();
  guard.check(identity('hash-1'), '10.0.0.1', now);
  expect(replayed(() => guard.check(identity('hash-1'), '10.0.0.2', at(1000))).message).toContain('10.0.0.1');
  replayed(() => guard.check(identity('hash-1'), '10.0.0.2', at(HOUR - 1)));
  // The copy does not take the token over: the first host is still let in.
  guard.check(identity('hash-1'), '10.0.0.1', at(HOUR - 1));
});

test('other tokens are not affected, from any host', () => {
  const guard = new ReplayGuard();
  guard.check(identity('hash-1'), '10.0.0.1', now);
  guard.check(identity('hash-2'), '10.0.0.2', now);
  guard.check(identity('hash-3'), '10.0.0.1', now);
  replayed(() => guard.check(identity('hash-2'), '10.0.0.1', now));
});

test('once the token has expired another host may use it (it is refused by its exp anyway)', () => {
  const guard = new ReplayGuard();
  guard.check(identity('hash-1'), '10.0.0.1', now);
  replayed(() => guard.check(identity('hash-1'), '10.0.0.2', at(HOUR - 1)));
  guard.check(identity('hash-1'), '10.0.0.2', at(HOUR));
  guard.check(identity('hash-1'), '10.0.0.3', at(2 * HOUR));
});

test('a token already expired when seen is not held to its host', () => {
  const guard = new ReplayGuard();
  guard.check(identity('hash-1', at(-1)), '10.0.0.1', now);
  guard.check(identity('hash-1', at(-1)), '10.0.0.2', now);
});

test('pruning the expired tokens of a full guard keeps the valid ones', () => {
  const guard = new ReplayGuard();
  guard.check(identity('valid'), '10.0.0.1', now);
  for (let i = 0; i < 50_000; i++) guard.check(identity(`short-${i}`, at(1000)), '10.0.0.9', now);
  guard.check(identity('new'), '10.0.0.2', at(2000));
  replayed(() => guard.check(identity('valid'), '10.0.0.2', at(2000)));
  replayed(() => guard.check(identity('new'), '10.0.0.1', at(2000)));
});
