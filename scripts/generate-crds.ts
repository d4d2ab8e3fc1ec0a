// Writes crds/*.yaml from the schemas in src/api (the single source of truth).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderCrdFiles } from '../src/api/crds.ts';

const dir = join(import.meta.dirname, '..', 'crds');
for (const [file, text] of Object.entries(renderCrdFiles())) {
  writeFileSync(join(dir, file), text);
  console.log(`wrote crds/${file}`);
}
