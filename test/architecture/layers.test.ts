// Proves that imports point downward only (BRIEF.md, "Layers"): a module imports from its own layer or below.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const src = join(root, 'src');

/** Bottom-up; equal ranks may import each other. */
const LAYER_RANKS: ReadonlyArray<[prefix: string, rank: number]> = [
  ['util/', 0],
  ['generated/', 0],
  ['config/', 1],
  ['obs/', 2],
  ['io/', 3],
  ['meta/', 4],
  ['storage/', 5],
  ['engine/', 6],
  ['lock/', 7],
  ['txn/', 8],
  ['wire/', 9],
  ['client/', 10],
  ['server/', 10],
  ['index.ts', 11],
];

function rankOf(pathFromSrc: string): number {
  const entry = LAYER_RANKS.find(([prefix]) => pathFromSrc.startsWith(prefix));
  if (entry === undefined) throw new Error(`${pathFromSrc} is in no layer: add its folder to LAYER_RANKS`);
  return entry[1];
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

function relativeImports(source: string): string[] {
  const found = source.matchAll(/(?:import|export)[^'"]*?from\s+['"](\.{1,2}\/[^'"]+)['"]/g);
  return [...found].map((match) => match[1] as string);
}

describe('layering', () => {
  it('no module imports a layer above its own', () => {
    const violations: string[] = [];
    for (const file of sourceFiles(src)) {
      const fromSrc = relative(src, file);
      for (const specifier of relativeImports(readFileSync(file, 'utf8'))) {
        const target = relative(src, resolve(dirname(file), specifier));
        if (target.startsWith('..')) {
          violations.push(`${fromSrc} imports ${specifier}, outside src/`);
        } else if (rankOf(target) > rankOf(fromSrc)) {
          violations.push(`${fromSrc} imports ${target}`);
        }
      }
    }
    expect(violations).toEqual([]);
  });

  it('an upward import is recognised as one', () => {
    const imports = relativeImports(
      "import { encodeFrame } from '../../wire/frame.js';\nexport * from './x.js';",
    );
    expect(imports).toEqual(['../../wire/frame.js', './x.js']);
    const target = relative(src, resolve(join(src, 'storage', 'wal'), imports[0] as string));
    expect(rankOf(target)).toBeGreaterThan(rankOf('storage/wal/wal-writer.ts'));
  });

  it('the rank table covers every folder in src', () => {
    for (const file of sourceFiles(src)) expect(() => rankOf(relative(src, file))).not.toThrow();
  });
});
