// ObjectIndex: objects grouped by their key, moved when the key changes, dropped when deleted.

import { expect, test } from '@jest/globals';
import type { KubernetesObject } from '@kubernetes/client-node';
import { ObjectIndex } from '../../src/kube/object-index.ts';

const secret = (name: string, owner?: string, resourceVersion = '1'): KubernetesObject => ({
  metadata: { namespace: 'ns', name, resourceVersion, labels: owner ? { owner } : {} },
});
const names = (objects: KubernetesObject[]) => objects.map((o) => `${o.metadata?.name}@${o.metadata?.resourceVersion}`).sort();

test('groups by key, keeps the latest version, moves on a key change, drops on deletion', () => {
  const index = new ObjectIndex<KubernetesObject>((o) => o.metadata?.labels?.owner);
  index.update(secret('a', 'x'), 'add');
  index.update(secret('b', 'x'), 'add');
  index.update(secret('c', 'y'), 'add');
  index.update(secret('d'), 'add');
  expect(names(index.get('x'))).toEqual(['a@1', 'b@1']);
  index.update(secret('a', 'x', '2'), 'update');
  expect(names(index.get('x'))).toEqual(['a@2', 'b@1']);
  index.update(secret('b', 'y', '2'), 'update');
  expect(names(index.get('x'))).toEqual(['a@2']);
  expect(names(index.get('y'))).toEqual(['b@2', 'c@1']);
  index.update(secret('c', undefined, '2'), 'update');
  index.update(secret('a', 'x', '3'), 'delete');
  expect(index.get('x')).toEqual([]);
  expect(names(index.get('y'))).toEqual(['b@2']);
  expect(index.get('nobody')).toEqual([]);
});
