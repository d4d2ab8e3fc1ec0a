// The shape of src/ that design.md promises, checked on every run: imports point down the layers
// (api 1; policy, nats 2; kube 3; revocation, issuer, identity 4; controller, binder, webhook, callout,
// audit, inspect 5; cli 6; files directly in src/ are layer-1 utilities), never sideways between layer-5
// folders, and no file-level cycle; and no file over 300 lines unless its header says why it must
// be one piece.

import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';

const LAYERS: Record<string, number> = {
  api: 1,
  policy: 2,
  nats: 2,
  kube: 3,
  revocation: 4,
  issuer: 4,
  identity: 4,
  controller: 5,
  binder: 5,
  webhook: 5,
  callout: 5,
  audit: 5,
  inspect: 5,
  cli: 6,
};
/** Where jobs live: each is built on the layers below, never on another job. */
const JOB_LAYER = 5;
const MAX_LINES = 300;

/** Paths relative to src/ (a/b.ts), and what each file holds. */
type SourceTree = Map<string, string>;

const STATIC_IMPORT = /^[ \t]*(?:import|export)\s[^'";]*?\bfrom\s*['"]([^'"]+)['"]/gm;
const BARE_IMPORT = /^[ \t]*import\s*['"]([^'"]+)['"]/gm;
const DYNAMIC_IMPORT = /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g;

/** The files of the tree that `file` imports (type-only imports too: they couple the modules as well). */
function importsOf(file: string, text: string): string[] {
  const specifiers = [STATIC_IMPORT, BARE_IMPORT, DYNAMIC_IMPORT].flatMap((pattern) => [...text.matchAll(pattern)].map((match) => match[1] ?? ''));
  return specifiers.filter((specifier) => specifier.startsWith('.')).map((specifier) => normalize(join(dirname(file), specifier)));
}

/** The folder of `file` under src/, or '' for a file directly in src/. */
const folderOf = (file: string) => (file.includes('/') ? (file.split('/')[0] ?? '') : '');
const layerOf = (folder: string) => (folder === '' ? 1 : LAYERS[folder]);

/** One line per import that breaks the layering, per import of no file in src/, and per cycle. */
function importFindings(tree: SourceTree): string[] {
  const findings: string[] = [];
  const graph = new Map<string, string[]>();
  for (const [file, text] of tree) {
    const from = folderOf(file);
    if (layerOf(from) === undefined) findings.push(`no layer: src/${from} is not in the layer list (design.md)`);
    const targets: string[] = [];
    for (const target of importsOf(file, text)) {
      if (!tree.has(target)) {
        findings.push(`unresolved: ${file} -> ${target}`);
        continue;
      }
      targets.push(target);
      const to = folderOf(target);
      const [fromLayer, toLayer] = [layerOf(from), layerOf(to)];
      if (from === to || fromLayer === undefined || toLayer === undefined) continue;
      if (toLayer > fromLayer) findings.push(`upward: ${file} (layer ${fromLayer}) -> ${target} (layer ${toLayer})`);
      else if (toLayer === JOB_LAYER && fromLayer === JOB_LAYER) findings.push(`sideways: ${file} -> ${target} (both layer ${JOB_LAYER})`);
    }
    graph.set(file, targets);
  }
  return [...new Set(findings)].concat(cycles(graph).map((cycle) => `cycle: ${cycle.join(' -> ')}`));
}

/** Import cycles, each as the path that closes it (a -> b -> a); at least one per tangle. */
function cycles(graph: Map<string, string[]>): string[][] {
  const found: string[][] = [];
  const done = new Set<string>();
  const path: string[] = [];
  const visit = (file: string) => {
    const at = path.indexOf(file);
    if (at >= 0) return void found.push([...path.slice(at), file]);
    if (done.has(file)) return;
    path.push(file);
    for (const target of graph.get(file) ?? []) visit(target);
    path.pop();
    done.add(file);
  };
  for (const file of [...graph.keys()].sort()) visit(file);
  return found;
}

/** Files over MAX_LINES lines whose header comment does not say why they must be one piece. */
function lengthFindings(tree: SourceTree): string[] {
  const findings: string[] = [];
  for (const [file, text] of tree) {
    const lines = text.replace(/\n$/, '').split('\n');
    if (lines.length <= MAX_LINES) continue;
    const header = lines.slice(0, lines.findIndex((line) => !line.startsWith('//'))).join(' ');
    if (!/\bone piece\b/i.test(header)) findings.push(`${file}: ${lines.length} lines (over ${MAX_LINES}, and its header does not say why it must be one piece)`);
  }
  return findings;
}

function readTree(root: string): SourceTree {
  const tree: SourceTree = new Map();
  for (const entry of readdirSync(root, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.ts')) continue;
    const path = join(entry.parentPath, entry.name);
    tree.set(relative(root, path).split('\\').join('/'), readFileSync(path, 'utf8'));
  }
  return tree;
}

describe('src/', () => {
  const tree = readTree(join(import.meta.dirname, '..', '..', 'src'));

  test('is read whole', () => {
    expect(tree.size).toBeGreaterThan(30);
    expect(tree.has('log.ts') && tree.has('cli/main.ts')).toBe(true);
  });

  test('imports point down the layers, never sideways between jobs, and close no cycle', () => {
    expect(importFindings(tree)).toEqual([]);
  });

  test(`no file is over ${MAX_LINES} lines unless its header says why it must be one piece`, () => {
    expect(lengthFindings(tree)).toEqual([]);
  });
});

describe('the checks themselves', () => {
  const fixture = (files: Record<string, string>): SourceTree => new Map(Object.entries(files));

  test('a tree that keeps the rules passes', () => {
    const clean = fixture({
      'log.ts': `import { pino } from 'pino';`,
      'api/a.ts': `import type { L } from '../log.ts';`,
      'kube/k.ts': `import {\n  a,\n  b,\n} from '../api/a.ts';\nexport { c } from './c.ts';`,
      'kube/c.ts': `// import { x } from '../cli/x.ts' in a comment is not an import\nexport const c = 1;`,
      'binder/b.ts': `import type { K } from '../kube/k.ts';\nimport '../api/a.ts';`,
      'cli/x.ts': `const m = await import('../binder/b.ts');`,
    });
    expect(importFindings(clean)).toEqual([]);
  });

  test('an upward, a sideways and an unresolved import are found', () => {
    const broken = fixture({
      'api/a.ts': `import type { K } from '../kube/k.ts';`,
      'kube/k.ts': `export const k = 1;`,
      'binder/b.ts': `import { w } from '../webhook/w.ts';\nimport { gone } from './gone.ts';`,
      'webhook/w.ts': `export const w = 1;`,
      'log.ts': `const p = import('./policy/p.ts');`,
      'policy/p.ts': `export {};`,
    });
    expect(importFindings(broken)).toEqual([
      'upward: api/a.ts (layer 1) -> kube/k.ts (layer 3)',
      'sideways: binder/b.ts -> webhook/w.ts (both layer 5)',
      'unresolved: binder/b.ts -> binder/gone.ts',
      'upward: log.ts (layer 1) -> policy/p.ts (layer 2)',
    ]);
  });

  test('a cycle is found, within a folder too, and a folder without a layer', () => {
    const tangled = fixture({
      'kube/a.ts': `import { b } from './b.ts';`,
      'kube/b.ts': `export * from './c.ts';`,
      'kube/c.ts': `import type { A } from './a.ts';`,
      'oidc/o.ts': `export {};`,
    });
    expect(importFindings(tangled)).toEqual(['no layer: src/oidc is not in the layer list (design.md)', 'cycle: kube/a.ts -> kube/b.ts -> kube/c.ts -> kube/a.ts']);
  });

  test('a long file passes only with a header that says why it is one piece', () => {
    const body = 'export const x = 1;\n'.repeat(MAX_LINES);
    expect(lengthFindings(fixture({ 'a.ts': `// Short.\n${body}`, 'b.ts': `// One state machine: it must stay one piece.\n${body}`, 'c.ts': body.slice(20) }))).toEqual([
      `a.ts: ${MAX_LINES + 1} lines (over ${MAX_LINES}, and its header does not say why it must be one piece)`,
    ]);
  });
});
