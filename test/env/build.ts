// CLI: `node test/env/build.ts [etcd|nats-server|kubernetes ...]` builds the missing test binaries
// into the cache, so CI can prebuild before jest (whose global setup would otherwise do it).
import { COMPONENT_GROUPS, ensureComponents } from './components.ts';
import type { ComponentGroup } from './components.ts';

const args = process.argv.slice(2);
const unknown = args.filter((a) => !COMPONENT_GROUPS.includes(a as ComponentGroup));
if (unknown.length > 0) {
  process.stderr.write(`unknown component(s) ${unknown.join(', ')}; choose from ${COMPONENT_GROUPS.join(', ')}\n`);
  process.exit(2);
}
const started = Date.now();
const paths = await ensureComponents(args.length > 0 ? { only: args as ComponentGroup[] } : {});
for (const [name, p] of Object.entries(paths)) process.stdout.write(`${name}\t${p}\n`);
process.stderr.write(`[wno-env] components ready in ${Math.round((Date.now() - started) / 1000)}s\n`);
