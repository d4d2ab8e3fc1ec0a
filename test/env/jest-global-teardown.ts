// Jest global teardown for the e2e project: stops every process setup started and removes its files.
import type { Environment } from './index.ts';
import { GLOBAL_KEY } from './jest-global-setup.ts';

export default async function teardown(): Promise<void> {
  const env = (globalThis as Record<string, unknown>)[GLOBAL_KEY] as Environment | undefined;
  delete (globalThis as Record<string, unknown>)[GLOBAL_KEY];
  await env?.stop();
}
