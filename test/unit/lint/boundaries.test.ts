// Proves the boundary rules bite (eslint.config.js for src/raft's purity, .dependency-cruiser.cjs for
// import direction): fixtures that break them must fail the same lint configuration the project runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const fixtures = 'test/fixtures/boundaries/src';

async function lintMessages(file: string): Promise<string[]> {
  const eslint = new ESLint({ cwd: root, ignore: false });
  const [result] = await eslint.lintFiles([`${fixtures}/${file}`]);
  assert.ok(result, `no lint result for ${file}`);
  return result.messages.map((m) => `${m.line}:${m.ruleId ?? 'parse'}`);
}

test('lint refuses node: imports, Date, Math.random, timers and async in src/raft', async () => {
  const messages = await lintMessages('raft/impure.ts');
  for (const [line, rule] of [
    [2, 'no-restricted-imports'],
    [5, 'no-restricted-globals'],
    [5, 'no-restricted-properties'],
    [8, 'no-restricted-syntax'],
    [9, 'no-restricted-syntax'],
  ] as const) {
    assert.ok(messages.includes(`${line}:${rule}`), `expected ${rule} on line ${line}, got ${messages.join(', ')}`);
  }
});

test('dependency rules refuse imports of src/server, raft reaching out, and deep imports', () => {
  let output = '';
  try {
    execFileSync('npx', ['depcruise', fixtures, '--config', '.dependency-cruiser.cjs', '--output-type', 'err'], {
      cwd: root, encoding: 'utf8', stdio: 'pipe',
    });
    assert.fail('dependency-cruiser accepted fixtures that break the boundaries');
  } catch (error) {
    const failure = error as { status?: number; stdout?: string };
    assert.ok(failure.status && failure.status > 0, 'depcruise must exit non-zero');
    output = failure.stdout ?? '';
  }
  assert.match(output, /nothing-imports-server: .*src\/api\/index\.ts → .*src\/server\/index\.ts/);
  assert.match(output, /raft-imports-only-base-and-config: .*src\/raft\/index\.ts → .*src\/api\/index\.ts/);
  assert.match(output, /enter-folders-through-index: .*src\/api\/deep\.ts → .*src\/base\/inner\.ts/);
});

test('the real source tree passes the dependency rules', () => {
  assert.doesNotThrow(() => execFileSync('npx', ['depcruise', 'src', '--config', '.dependency-cruiser.cjs'], {
    cwd: root, encoding: 'utf8', stdio: 'pipe',
  }));
});
