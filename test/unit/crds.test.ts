import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { CRD_FOLDERS, renderCrdFiles } from '../../src/api/crds.ts';

describe('crds/', () => {
  const root = join(import.meta.dirname, '..', '..');
  test.each(CRD_FOLDERS.flatMap((folder) => Object.entries(renderCrdFiles()).map(([file, text]) => [`${folder}/${file}`, text])))(
    '%s matches the schema in src/api (run `npm run generate:crds` after changing it)',
    (file, text) => {
      expect(readFileSync(join(root, file), 'utf8')).toBe(text);
    },
  );

  test('the folders hold no other CRD file than those generated (a renamed kind leaves none behind)', () => {
    for (const folder of CRD_FOLDERS) {
      const files = readdirSync(join(root, folder)).filter((file) => file.endsWith('.yaml'));
      expect(files.sort()).toEqual(Object.keys(renderCrdFiles()).sort());
    }
  });

  test('every field of the schema has a description, so `kubectl explain` is useful', () => {
    const missing: string[] = [];
    const walk = (schema: Record<string, unknown>, path: string) => {
      if (!path.endsWith('.metadata') && typeof schema.description !== 'string') missing.push(path);
      const properties = (schema.properties ?? {}) as Record<string, Record<string, unknown>>;
      for (const [name, child] of Object.entries(properties)) walk(child, `${path}.${name}`);
      if (schema.items) walk(schema.items as Record<string, unknown>, `${path}[]`);
    };
    for (const text of Object.values(renderCrdFiles())) {
      const { spec } = JSON.parse(JSON.stringify(parseYaml(text))) as {
        spec: { names: { kind: string }; versions: { schema: { openAPIV3Schema: Record<string, unknown> } }[] };
      };
      walk(spec.versions[0]!.schema.openAPIV3Schema, spec.names.kind);
    }
    expect(missing).toEqual([]);
  });
});

