// The part of Kubernetes object metadata this operator reads and writes, with the fields that the
// API server always sets on stored objects made non-optional.

import type { V1ObjectMeta } from '@kubernetes/client-node';

export type ObjectMeta = V1ObjectMeta & { name: string };
