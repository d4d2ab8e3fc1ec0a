import { parse, stringify } from 'yaml';
import fs from 'node:fs';
const [src, out, from, to] = process.argv.slice(2);
let text = fs.readFileSync(src, 'utf8');
if (from) { if (!text.includes(from)) throw new Error('no ' + from); text = text.replace(from, to); }
const m = parse(text);
const groups = m.spec.groups.map((g) => ({ ...g, rules: g.rules.map(({ annotations, ...r }) => r) }));
fs.writeFileSync(out, stringify({ groups }));
