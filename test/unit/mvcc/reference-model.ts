/**
 * A deliberately naive reference model of the MVCC store for property tests: the whole history as a
 * flat list of changes, every question answered by scanning it. No generations, no index — so it
 * shares no logic (and no bugs) with the store.
 */

export interface ModelChange {
  main: number;
  sub: number;
  key: string;
  /** null for a delete. */
  value: string | null;
  createRevision: number;
  version: number;
}

export interface ModelKv {
  key: string;
  value: string;
  createRevision: number;
  modRevision: number;
  version: number;
}

export type ModelSpan = { key: string; end?: string };

export type ModelOp =
  | { type: 'put'; key: string; value: string }
  | { type: 'deleteRange'; key: string; end?: string }
  | { type: 'range'; key: string; end?: string; revision?: number; limit?: number; keysOnly?: boolean; countOnly?: boolean }
  | { type: 'txn'; compare: ModelCompare[]; success: ModelOp[]; failure: ModelOp[] }
  | { type: 'compact'; revision: number };

export interface ModelCompare {
  key: string;
  target: 'value' | 'version' | 'createRevision' | 'modRevision';
  result: 'equal' | 'notEqual' | 'greater' | 'less';
  value: string | number;
}

export type ModelResult =
  | { error: 'E_COMPACTED' | 'E_FUTURE_REV' | 'E_BAD_REQUEST' }
  | { type: 'put'; revision: number }
  | { type: 'deleteRange'; revision: number; deleted: number }
  | { type: 'range'; kvs: ModelKv[]; count: number; more: boolean }
  | { type: 'txn'; revision: number; succeeded: boolean; responses: ModelResult[] }
  | { type: 'compact'; compactRevision: number };

export interface ModelEvent {
  type: 'put' | 'delete';
  key: string;
  value: string;
  modRevision: number;
  createRevision: number;
  version: number;
  prevValue?: string;
}

function inSpan(span: ModelSpan, key: string): boolean {
  if (span.end === undefined || span.end === '') return key === span.key;
  if (span.end === '\u0000') return key >= span.key;
  return key >= span.key && key < span.end;
}

export class ReferenceModel {
  history: ModelChange[] = [];
  revision = 0;
  compactRevision = 0;

  /** The key's latest change at or before `atMain` (Infinity: including a transaction in progress). */
  private latestChange(key: string, atMain: number): ModelChange | undefined {
    let found: ModelChange | undefined;
    for (const c of this.history) if (c.key === key && c.main <= atMain) found = c;
    return found;
  }

  kvAt(key: string, atMain: number): ModelKv | undefined {
    const c = this.latestChange(key, atMain);
    if (c === undefined || c.value === null) return undefined;
    return { key, value: c.value, createRevision: c.createRevision, modRevision: c.main, version: c.version };
  }

  private keysAt(span: ModelSpan, atMain: number): string[] {
    const keys = [...new Set(this.history.map((c) => c.key))].filter((k) => inSpan(span, k)).sort();
    return keys.filter((k) => this.kvAt(k, atMain) !== undefined);
  }

  apply(op: ModelOp): ModelResult {
    switch (op.type) {
      case 'put': {
        const main = this.revision + 1;
        this.write(op.key, op.value, main, 0);
        this.revision = main;
        return { type: 'put', revision: main };
      }
      case 'deleteRange': {
        const main = this.revision + 1;
        const deleted = this.deleteKeys(op, main, 0);
        if (deleted > 0) this.revision = main;
        return { type: 'deleteRange', revision: this.revision, deleted };
      }
      case 'range':
        return this.range(op, this.revision, Infinity);
      case 'txn':
        return this.txn(op);
      case 'compact':
        if (op.revision <= this.compactRevision) return { error: 'E_COMPACTED' };
        if (op.revision > this.revision) return { error: 'E_FUTURE_REV' };
        this.compactRevision = op.revision;
        return { type: 'compact', compactRevision: op.revision };
    }
  }

  range(op: Extract<ModelOp, { type: 'range' }>, current: number, latest: number): ModelResult {
    const atMain = op.revision === undefined || op.revision === 0 ? latest : op.revision;
    if (atMain !== latest) {
      if (atMain > current) return { error: 'E_FUTURE_REV' };
      if (atMain < this.compactRevision) return { error: 'E_COMPACTED' };
    }
    const keys = this.keysAt(op, atMain);
    const limit = op.limit ?? 0;
    const shown = op.countOnly === true ? [] : limit > 0 ? keys.slice(0, limit) : keys;
    const kvs = shown.map((k) => {
      const kv = this.kvAt(k, atMain)!;
      return op.keysOnly === true ? { ...kv, value: '' } : kv;
    });
    return { type: 'range', kvs, count: keys.length, more: limit > 0 && keys.length > limit };
  }

  private write(key: string, value: string, main: number, sub: number): void {
    const prev = this.kvAt(key, Infinity);
    this.history.push({
      main, sub, key, value,
      createRevision: prev === undefined ? main : prev.createRevision,
      version: prev === undefined ? 1 : prev.version + 1,
    });
  }

  private deleteKeys(span: ModelSpan, main: number, firstSub: number): number {
    const keys = this.keysAt(span, Infinity);
    keys.forEach((key, i) => this.history.push({ main, sub: firstSub + i, key, value: null, createRevision: 0, version: 0 }));
    return keys.length;
  }

  private holds(c: ModelCompare): boolean {
    const kv = this.kvAt(c.key, Infinity);
    let sign: number;
    if (c.target === 'value') {
      if (kv === undefined) return false;
      const want = c.value as string;
      sign = kv.value === want ? 0 : Buffer.compare(Buffer.from(kv.value), Buffer.from(want));
    } else {
      const actual = kv === undefined ? 0 : c.target === 'version' ? kv.version : c.target === 'createRevision' ? kv.createRevision : kv.modRevision;
      sign = Math.sign(actual - (c.value as number));
    }
    return c.result === 'equal' ? sign === 0 : c.result === 'notEqual' ? sign !== 0 : c.result === 'greater' ? sign > 0 : sign < 0;
  }

  /**
   * Every path through a branch, as the list of writes it makes: a nested transaction runs one of its
   * branches, so each of its paths combines with each path of the operations around it. Naive on purpose.
   */
  private static paths(branch: ModelOp[]): ModelOp[][] {
    let paths: ModelOp[][] = [[]];
    for (const op of branch) {
      const alternatives = op.type === 'txn' ? [...ReferenceModel.paths(op.success), ...ReferenceModel.paths(op.failure)]
        : op.type === 'put' || op.type === 'deleteRange' ? [[op]] : [[]];
      paths = paths.flatMap((path) => alternatives.map((more) => [...path, ...more]));
    }
    return paths;
  }

  /** No path may write one key twice: two puts of a key, or a put of a key a delete takes (etcd's rule), in either order. */
  private static writesTwice(branch: ModelOp[]): boolean {
    return ReferenceModel.paths(branch).some((path) => {
      const puts = path.filter((o) => o.type === 'put').map((o) => o.key);
      if (new Set(puts).size !== puts.length) return true;
      const deletes = path.filter((o) => o.type === 'deleteRange');
      return puts.some((k) => deletes.some((d) => inSpan(d, k)));
    });
  }

  /** The branch each transaction takes, every level's compares asked before anything runs. */
  private choose(op: Extract<ModelOp, { type: 'txn' }>, chosen: Map<ModelOp, boolean>): void {
    const succeeded = op.compare.every((c) => this.holds(c));
    chosen.set(op, succeeded);
    for (const child of succeeded ? op.success : op.failure) if (child.type === 'txn') this.choose(child, chosen);
  }

  /** Every operation that will run, nested ones included. */
  private static running(op: Extract<ModelOp, { type: 'txn' }>, chosen: Map<ModelOp, boolean>): ModelOp[] {
    return (chosen.get(op)! ? op.success : op.failure).flatMap((child) => (child.type === 'txn' ? ReferenceModel.running(child, chosen) : [child]));
  }

  private txn(op: Extract<ModelOp, { type: 'txn' }>): ModelResult {
    if (ReferenceModel.writesTwice(op.success) || ReferenceModel.writesTwice(op.failure)) return { error: 'E_BAD_REQUEST' };
    const chosen = new Map<ModelOp, boolean>();
    this.choose(op, chosen);
    // As etcd: refused reads inside the branch refuse the whole transaction before anything changes.
    for (const child of ReferenceModel.running(op, chosen)) {
      if (child.type === 'range' && child.revision !== undefined && child.revision !== 0) {
        if (child.revision > this.revision) return { error: 'E_FUTURE_REV' };
        if (child.revision < this.compactRevision) return { error: 'E_COMPACTED' };
      }
    }
    const main = this.revision + 1;
    const counter = { sub: 0 };
    const result = this.runBranch(op, chosen, main, counter);
    if (counter.sub > 0) this.revision = main;
    const stamp = (r: ModelResult): void => {
      if (!('type' in r)) return;
      if (r.type === 'put' || r.type === 'deleteRange') r.revision = this.revision;
      if (r.type === 'txn') {
        r.revision = this.revision;
        r.responses.forEach(stamp);
      }
    };
    stamp(result);
    return result;
  }

  private runBranch(op: Extract<ModelOp, { type: 'txn' }>, chosen: Map<ModelOp, boolean>, main: number, counter: { sub: number }): ModelResult {
    const succeeded = chosen.get(op)!;
    const responses: ModelResult[] = [];
    for (const child of succeeded ? op.success : op.failure) {
      if (child.type === 'put') {
        this.write(child.key, child.value, main, counter.sub++);
        responses.push({ type: 'put', revision: main });
      } else if (child.type === 'deleteRange') {
        const deleted = this.deleteKeys(child, main, counter.sub);
        counter.sub += deleted;
        responses.push({ type: 'deleteRange', revision: main, deleted });
      } else if (child.type === 'range') {
        responses.push(this.range(child, this.revision, Infinity));
      } else if (child.type === 'txn') {
        responses.push(this.runBranch(child, chosen, main, counter));
      }
    }
    return { type: 'txn', revision: main, succeeded, responses };
  }

  /** Every change in `span` with main >= fromMain, as watch events, in revision order. */
  events(span: ModelSpan, fromMain: number): ModelEvent[] {
    const out: ModelEvent[] = [];
    for (const c of this.history) {
      if (c.main < fromMain || !inSpan(span, c.key)) continue;
      const before = this.history.filter((p) => p.key === c.key && (p.main < c.main || (p.main === c.main && p.sub < c.sub)));
      const prev = before[before.length - 1];
      const event: ModelEvent = {
        type: c.value === null ? 'delete' : 'put', key: c.key, value: c.value ?? '', modRevision: c.main,
        createRevision: c.createRevision, version: c.version,
      };
      if (prev !== undefined && prev.value !== null) event.prevValue = prev.value;
      out.push(event);
    }
    return out;
  }
}
