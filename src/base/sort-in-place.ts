/**
 * Sorting on hot paths without V8's per-call garbage. Array.prototype.sort allocates its working state
 * (about a kilobyte, whatever the array's length) on every call; a put sorted a dozen short arrays —
 * the keys of each object of its audit records, the leader's voters for every acknowledgement — and
 * that was a twentieth of the bytes a member allocated per put. Short arrays are insertion-sorted in
 * place instead; longer ones still go to Array.prototype.sort.
 */

/** Arrays longer than this go to Array.prototype.sort: insertion sort is quadratic. */
const insertionSortItemsMax = 32;

/** Sorts `items` in place, stably, in the order `compare` gives (as Array.prototype.sort), and returns it. */
export function sortInPlace<T>(items: T[], compare: (a: T, b: T) => number): T[] {
  if (items.length > insertionSortItemsMax) return items.sort(compare);
  for (let i = 1; i < items.length; i++) {
    const item = items[i]!;
    let j = i - 1;
    while (j >= 0 && compare(items[j]!, item) > 0) {
      items[j + 1] = items[j]!;
      j--;
    }
    items[j + 1] = item;
  }
  return items;
}

/** Code-unit order of strings: Array.prototype.sort's order when it is given no comparator. */
export function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
