// CLI: `node test/env/build.ts [etcd|nats-server|kubernetes|natscli|promtool|helm ...]` builds the
// missing test binaries into the cache, so CI can prebuild before jest (whose global setup, or for
// natscli, promtool and helm the suite that uses it, would otherwise do it). Without arguments: the
// environment's (COMPONENT_GROUPS).
import { COMPONENT_GROUPS, ensureComponents, ON_DEMAND_GROUPS } from './components.ts';
import type { ComponentGroup } from './components.ts';

const args = process.argv.slice(2);
const known = [...COMPONENT_GROUPS, ...ON_DEMAND_GROUPS];
const unknown = args.filter((a) => !known.includes(a as ComponentGroup));
if (unknown.length > 0) {
  process.stderr.write(`unknown component(s) ${unknown.join(', ')}; choose from ${known.join(', ')}\n`);
  process.exit(2);
}
const started = Date.now();
const paths = await ensureComponents(args.length > 0 ? { only: args as ComponentGroup[] } : {});
for (const [name, p] of Object.entries(paths)) process.stdout.write(`${name}\t${p}\n`);
process.stderr.write(`[wno-env] components ready in ${Math.round((Date.now() - started) / 1000)}s\n`);
