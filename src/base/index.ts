/**
 * base — the smallest shared vocabulary of Coffer: invariant assertions, the base class of expected
 * errors, the Random and Clock seams through which randomness and time enter deterministic code, the
 * one msgpack codec configuration, and small helpers.
 * Invariant: base imports nothing from the rest of src/, and nothing from node:.
 */
export { assert, AssertionFailure, unreachable } from './assert.ts';
export { CofferError } from './error.ts';
export { type Random, seededRandom } from './random.ts';
export { type Clock, type TimerHandle, ManualClock, realClock } from './clock.ts';
export { decodeMsgpack, decodeMsgpackCopy, encodeMsgpack } from './msgpack.ts';
export { setOwnMember } from './own-member.ts';
export { byCodeUnits, sortInPlace } from './sort-in-place.ts';
