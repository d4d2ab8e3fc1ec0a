// OwnWrites: a watch event is an echo only of a version this process wrote, or a deletion it made,
// and has not seen yet; anything else wakes the controller and forgets what was pending.
// An event that arrives while a write of its object is in flight waits for that write's answer.

import { expect, test } from '@jest/globals';
import type { KubernetesObject } from '@kubernetes/client-node';
import type { ChangeType } from '../../src/kube/informer.ts';
import { OwnWrites } from '../../src/kube/own-writes.ts';

const at = (name: string, resourceVersion?: string): KubernetesObject => ({ metadata: { namespace: 'ns', name, resourceVersion } });

/** Feeds watch changes in and lists the versions that woke the controller. */
function watched(own: OwnWrites, kind = 'things') {
  const woken: string[] = [];
  const change = (object: KubernetesObject, type: ChangeType = 'update') =>
    own.onChange(kind, object, type, () => woken.push(`${object.metadata?.name}@${object.metadata?.resourceVersion}`));
  return { woken, change };
}

test('each written version is an echo once; the next version wakes', async () => {
  const own = new OwnWrites();
  const { woken, change } = watched(own);
  await own.write('things', at('a'), async () => at('a', '5'));
  await own.write('things', at('a'), async () => at('a', '7'));
  change(at('a', '5'));
  change(at('a', '7'));
  expect(woken).toEqual([]);
  change(at('a', '7'));
  change(at('a', '8'));
  expect(woken).toEqual(['a@7', 'a@8']);
  expect(own.size).toBe(0);
});

test('an echo that overtakes the answer to its write waits for it, and is dropped', async () => {
  const own = new OwnWrites();
  const { woken, change } = watched(own);
  let answer: (object: KubernetesObject) => void = () => undefined;
  const writing = own.write('things', at('a'), () => new Promise<KubernetesObject>((resolve) => (answer = resolve)));
  change(at('a', '5'));
  change(at('a', '6'));
  expect(woken).toEqual([]);
  answer(at('a', '5'));
  await writing;
  // 5 was ours; 6, someone else's write after it, wakes.
  expect(woken).toEqual(['a@6']);
  expect(own.size).toBe(0);
});

test('a failed write lets the changes it held back wake', async () => {
  const own = new OwnWrites();
  const { woken, change } = watched(own);
  let fail: (error: Error) => void = () => undefined;
  const writing = own.write('things', at('a'), () => new Promise<KubernetesObject>((_, reject) => (fail = reject)));
  change(at('a', '5'));
  fail(new Error('409'));
  await expect(writing).rejects.toThrow('409');
  expect(woken).toEqual(['a@5']);
});

test('kinds and names are kept apart', async () => {
  const own = new OwnWrites();
  await own.write('things', at('a'), async () => at('a', '5'));
  const others = watched(own, 'others');
  others.change(at('a', '5'), 'add');
  const things = watched(own);
  things.change(at('b', '5'), 'add');
  things.change(at('a', '5'), 'add');
  expect([...others.woken, ...things.woken]).toEqual(['a@5', 'b@5']);
});

test("someone else's version wakes, and the versions written before it are forgotten", async () => {
  const own = new OwnWrites();
  const { woken, change } = watched(own);
  await own.write('things', at('a'), async () => at('a', '5'));
  change(at('a', '6'));
  change(at('a', '5'));
  expect(woken).toEqual(['a@6', 'a@5']);
  expect(own.size).toBe(0);
});

test("someone else's deletion wakes, even of a version written here", async () => {
  const own = new OwnWrites();
  const { woken, change } = watched(own);
  await own.write('things', at('a'), async () => at('a', '5'));
  change(at('a', '5'), 'delete');
  expect(woken).toEqual(['a@5']);
  expect(own.size).toBe(0);
});

test('a deletion made here is an echo once; one that found nothing to delete records nothing', async () => {
  const own = new OwnWrites();
  const { woken, change } = watched(own);
  expect(await own.remove('things', at('a'), async () => true)).toBe(true);
  change(at('a', '9'), 'delete');
  expect(woken).toEqual([]);
  expect(own.size).toBe(0);
  await own.remove('things', at('b'), async () => false);
  expect(own.size).toBe(0);
  change(at('b', '3'), 'delete');
  expect(woken).toEqual(['b@3']);
});

test('a write that wrote nothing records nothing', async () => {
  const own = new OwnWrites();
  await own.write('things', at('a'), async () => undefined);
  expect(own.size).toBe(0);
});
