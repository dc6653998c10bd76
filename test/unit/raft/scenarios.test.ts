/**
 * Runs every scenario file in test/unit/raft/scenarios. A file is a sequence of blocks:
 *
 *   # comments (kept as they are)
 *   command args...
 *   ----
 *   expected output lines
 *   <blank line>
 *
 * Each file runs in a fresh environment. Any difference between the expected and actual output fails the
 * test with a line diff. COFFER_REWRITE=1 rewrites the files with the actual output instead (review the
 * git diff by hand: the golden output is the oracle).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ScenarioEnv } from './scenarioEnv.ts';

const dir = join(import.meta.dirname, 'scenarios');
const rewrite = process.env['COFFER_REWRITE'] === '1';

interface Block {
  preamble: string[];
  command: string;
  expected: string[];
}

function parse(content: string, file: string): { blocks: Block[]; trailer: string[] } {
  const lines = content.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const blocks: Block[] = [];
  let preamble: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === '' || line.startsWith('#')) {
      preamble.push(line);
      continue;
    }
    if (lines[i + 1] !== '----') throw new Error(`${file}:${i + 2}: expected ---- after command "${line}"`);
    const expected: string[] = [];
    i += 2;
    while (i < lines.length && lines[i] !== '') expected.push(lines[i++]!);
    blocks.push({ preamble, command: line, expected });
    preamble = [];
  }
  return { blocks, trailer: preamble };
}

function render(blocks: Block[], outputs: string[][], trailer: string[]): string {
  const out: string[] = [];
  blocks.forEach((b, i) => {
    out.push(...b.preamble, b.command, '----', ...outputs[i]!, '');
  });
  out.push(...trailer);
  return out.join('\n').replace(/\n+$/, '') + '\n';
}

/** A readable line diff (LCS) of expected vs actual. */
function lineDiff(expected: string, actual: string): string {
  const a = expected.split('\n');
  const b = actual.split('\n');
  const lcs: number[][] = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
    }
  }
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      out.push(`  ${a[i]}`);
      i++;
      j++;
    } else if (i < a.length && (j === b.length || lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) {
      out.push(`- ${a[i++]}`);
    } else {
      out.push(`+ ${b[j++]}`);
    }
  }
  // Show only changed lines with 3 lines of context.
  const keep = new Set<number>();
  out.forEach((l, k) => {
    if (!l.startsWith('  ')) for (let c = k - 3; c <= k + 3; c++) keep.add(c);
  });
  return out.filter((_, k) => keep.has(k)).join('\n');
}

const files = readdirSync(dir).filter((f) => f.endsWith('.txt')).sort();

test('scenario files exist', () => {
  assert.ok(files.length > 0, `no scenario files in ${dir}`);
});

for (const file of files) {
  test(`scenario ${file}`, () => {
    const path = join(dir, file);
    const content = readFileSync(path, 'utf8');
    const { blocks, trailer } = parse(content, file);
    const env = new ScenarioEnv();
    const outputs = blocks.map((b) => env.run(b.command));
    const actual = render(blocks, outputs, trailer);
    if (rewrite) {
      writeFileSync(path, actual);
      return;
    }
    if (actual !== content) {
      assert.fail(`scenario ${file} differs from its golden output (- expected, + actual; COFFER_REWRITE=1 to accept):\n${lineDiff(content, actual)}`);
    }
  });
}
