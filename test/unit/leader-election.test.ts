import { leaseExpired } from '../../src/kube/leader-election.ts';

describe('leaseExpired', () => {
  const observed = { holder: 'other', resourceVersion: '7', observedAtMs: 1_000_000 };

  test('a lease nobody was seen holding, or that was released, is free', () => {
    expect(leaseExpired(undefined, 15_000, 0)).toBe(true);
    expect(leaseExpired({ ...observed, holder: '' }, 15_000, 1_000_001)).toBe(true);
  });

  test('a held lease expires leaseDuration after it was last seen changing, by our own clock', () => {
    expect(leaseExpired(observed, 15_000, 1_014_999)).toBe(false);
    expect(leaseExpired(observed, 15_000, 1_015_000)).toBe(true);
  });
});
