// Writes the CRDs from the schemas in src/api (the single source of truth) into crds/ and into the
// Helm chart's crds/ folder (Helm installs that folder as is, and cannot reach outside the chart),
// so both hold the same generated files; test/unit/crds.test.ts fails when either drifts.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { CRD_FOLDERS, renderCrdFiles } from '../src/api/crds.ts';

const root = join(import.meta.dirname, '..');
for (const folder of CRD_FOLDERS) {
  const dir = join(root, folder);
  mkdirSync(dir, { recursive: true });
  for (const [file, text] of Object.entries(renderCrdFiles())) {
    writeFileSync(join(dir, file), text);
    console.log(`wrote ${relative(root, join(dir, file))}`);
  }
}
