// The chaos run's plan is a function of its seed alone (so a printed seed replays a failing run),
// and the etcd record finds the user in a stored Secret however its bytes surround the creds file.

import { encodeUser, fmtCreds } from '@nats-io/jwt';
import { createAccount, createUser } from '@nats-io/nkeys';
import { planRound, type Subject } from '../../scripts/chaos-plan.ts';
import { Random } from '../../scripts/chaos-random.ts';
import { userInSecret } from '../env/etcd-history.ts';

const earlier: Subject[] = Array.from({ length: 10 }, (_, i) => ({ kind: 'access', workspaceId: `old-${i}`, accessName: `old-${i}`, round: 1 }));

test('the same seed gives the same plan, another seed another', () => {
  const plan = (seed: number) => planRound(new Random(seed), 2, earlier, 3);
  expect(plan(42)).toEqual(plan(42));
  expect(plan(43)).not.toEqual(plan(42));
});

test('every plan kills the leader first or second, and removes a workspace only after creating it', () => {
  for (let seed = 0; seed < 200; seed++) {
    const plan = planRound(new Random(seed), 2, earlier, 3);
    expect(plan.faults.findIndex(({ fault }) => fault.kind === 'kill-leader')).toBeLessThanOrEqual(1);
    const created = new Map<string, number>(earlier.map((s) => [s.accessName, -1]));
    for (const operation of plan.operations) {
      if (operation.action === 'create') created.set(operation.subject.accessName, operation.atMs);
      else expect(created.get(operation.subject.accessName)).toBeLessThanOrEqual(operation.atMs);
    }
  }
});

test('the user of a creds file is found inside the bytes etcd stores, and its creds rebuilt', async () => {
  const user = createUser();
  const jwt = await encodeUser('u', user, createAccount());
  const creds = new TextDecoder().decode(fmtCreds(jwt, user));
  const stored = Buffer.concat([Buffer.from('k8s\0\n\x0cv1\x12\x06Secret\x12\xf3\x03'), Buffer.from(creds), Buffer.from([0x1a, 0x08, 0xff])]);
  const found = userInSecret(stored);
  expect(found?.publicKey).toBe(user.getPublicKey());
  expect(found?.creds).toContain(jwt);
  expect(userInSecret(Buffer.from('k8s\0 no creds here'))).toBeUndefined();
});
