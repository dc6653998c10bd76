import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Inflights } from '../../../src/raft/inflights.ts';

test('inflights is full at the message count limit', () => {
  const inf = new Inflights(3, 1000);
  inf.add(1, 10);
  inf.add(2, 10);
  assert.equal(inf.full(), false);
  inf.add(3, 10);
  assert.equal(inf.full(), true);
  assert.equal(inf.count(), 3);
});

test('inflights is full at the byte limit', () => {
  const inf = new Inflights(10, 100);
  inf.add(1, 60);
  assert.equal(inf.full(), false);
  inf.add(2, 40);
  assert.equal(inf.full(), true);
  assert.equal(inf.bytes(), 100);
});

test('freeLE frees every message up to the acknowledged index and their bytes', () => {
  const inf = new Inflights(10, 1000);
  for (let i = 1; i <= 5; i++) inf.add(i * 2, 10);
  inf.freeLE(5);
  assert.equal(inf.count(), 3);
  assert.equal(inf.bytes(), 30);
  inf.freeLE(100);
  assert.equal(inf.count(), 0);
  assert.equal(inf.bytes(), 0);
});

test('freeFirstOne frees only the oldest message', () => {
  const inf = new Inflights(2, 1000);
  inf.add(4, 10);
  inf.add(7, 20);
  inf.freeFirstOne();
  assert.equal(inf.count(), 1);
  assert.equal(inf.bytes(), 20);
  assert.equal(inf.full(), false);
});

test('adding when full or with a non-increasing index is an invariant violation', () => {
  const inf = new Inflights(1, 1000);
  inf.add(5, 1);
  assert.throws(() => inf.add(6, 1), /full/);
  const inf2 = new Inflights(5, 1000);
  inf2.add(5, 1);
  assert.throws(() => inf2.add(5, 1), /does not increase/);
});
