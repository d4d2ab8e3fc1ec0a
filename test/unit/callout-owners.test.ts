// One callout per callout account: the oldest serves it, so that two objects naming one account
// never split its requests between two sets of providers.

import type { ClusterNatsAuthCallout } from '../../src/api/cluster-nats-auth-callout.ts';
import { accountOwners } from '../../src/callout/service.ts';

const callout = (name: string, account: string, created: string): ClusterNatsAuthCallout =>
  ({ metadata: { name, creationTimestamp: created }, spec: { account: { publicKey: account } } }) as unknown as ClusterNatsAuthCallout;

test('the oldest callout of each account serves it; a tie goes to the first name', () => {
  const owners = accountOwners([
    callout('late', 'AONE', '2026-12-03T10:00:00Z'),
    callout('early', 'AONE', '2026-12-03T09:00:00Z'),
    callout('b-twin', 'ATWO', '2026-12-03T09:00:00Z'),
    callout('a-twin', 'ATWO', '2026-12-03T09:00:00Z'),
  ]);
  expect(owners).toEqual(new Map([['AONE', 'early'], ['ATWO', 'a-twin']]));
});
