/**
 * The fake SpacetimeDB's storage: in-memory tables with auto-increment and unique columns, and
 * reducers that run as transactions. As in SpacetimeDB, a reducer call is atomic and calls are
 * serialised (the fake runs each one synchronously on the single JS thread), and a reducer that
 * throws leaves every table exactly as it was (its changes are rolled back).
 */
import { argFromJson, invalidValue, type Column } from './spacetimedb-types';

/** A reducer's own refusal (Rust `Err(..)` or a panic): HTTP 530 with this message. */
export class ReducerFailure extends Error {}
/** Arguments the reducer's parameter types cannot decode: HTTP 400. */
export class ArgsError extends Error {}

export interface TableOptions {
  /** Integer column filled from a sequence when inserted as 0 or missing (`#[auto_inc]`). */
  autoInc?: string;
  /** Columns with `#[unique]` / `#[primary_key]`: a second row with the same value is refused. */
  unique?: string[];
}

export type RowObject = Record<string, unknown>;

export class FakeTable {
  rows: unknown[][] = [];
  private nextId = 1;

  constructor(
    readonly name: string,
    readonly columns: Column[],
    readonly options: TableOptions = {},
  ) {
    for (const c of [options.autoInc, ...(options.unique ?? [])]) if (c !== undefined) this.index(c);
  }

  index(column: string): number {
    const i = this.columns.findIndex((c) => c.name === column);
    if (i < 0) throw new Error(`table ${this.name} has no column ${column}`);
    return i;
  }

  toObject(row: unknown[]): RowObject {
    return Object.fromEntries(this.columns.map((c, i) => [c.name, row[i]]));
  }

  all(): RowObject[] {
    return this.rows.map((r) => this.toObject(r));
  }

  find(column: string, value: unknown): RowObject | null {
    const i = this.index(column);
    const row = this.rows.find((r) => r[i] === value);
    return row ? this.toObject(row) : null;
  }

  insert(values: RowObject): RowObject {
    const row = this.columns.map((c) => (c.name in values ? values[c.name] : null));
    const { autoInc } = this.options;
    if (autoInc !== undefined) {
      const i = this.index(autoInc);
      if (row[i] === null || row[i] === 0) row[i] = this.nextId++;
      else this.nextId = Math.max(this.nextId, (row[i] as number) + 1);
    }
    this.check(row, null);
    this.rows.push(row);
    return this.toObject(row);
  }

  /** Applies `changes` to the first row whose `column` equals `value`; false when there is none. */
  update(column: string, value: unknown, changes: RowObject): boolean {
    const i = this.index(column);
    const at = this.rows.findIndex((r) => r[i] === value);
    const current = this.rows[at];
    if (!current) return false;
    const next = this.columns.map((c, j) => (c.name in changes ? changes[c.name] : current[j]));
    this.check(next, at);
    this.rows[at] = next;
    return true;
  }

  delete(column: string, value: unknown): number {
    const i = this.index(column);
    const before = this.rows.length;
    this.rows = this.rows.filter((r) => r[i] !== value);
    return before - this.rows.length;
  }

  /** Rows are never changed in place (update and delete replace them), so a shallow copy is a snapshot. */
  snapshot(): () => void {
    const rows = this.rows.slice();
    return () => {
      this.rows = rows;
    };
  }

  private check(row: unknown[], self: number | null): void {
    this.columns.forEach((c, i) => {
      const why = invalidValue(c.type, row[i]);
      if (why) throw new ReducerFailure(`${this.name}.${c.name}: ${why}`);
    });
    for (const col of this.options.unique ?? []) {
      const i = this.index(col);
      if (this.rows.some((r, j) => j !== self && r[i] === row[i])) {
        throw new ReducerFailure(`duplicate unique column value: ${this.name}.${col} = ${JSON.stringify(row[i])}`);
      }
    }
  }
}

export interface ReducerContext {
  table(name: string): FakeTable;
  /** The transaction's timestamp, microseconds since the Unix epoch, strictly increasing. */
  timestampMicros: number;
  /** The bearer token of the caller, standing in for its identity; null when anonymous. */
  sender: string | null;
}

export interface FakeReducer {
  params: Column[];
  /** Throws ReducerFailure (or anything) to fail; every change it made is then rolled back. */
  run(ctx: ReducerContext, args: RowObject): void;
}

let lastTimestamp = 0;
function nextTimestamp(): number {
  lastTimestamp = Math.max(lastTimestamp + 1, Date.now() * 1000);
  return lastTimestamp;
}

export function decodeArgs(name: string, reducer: FakeReducer, raw: unknown): RowObject {
  if (!Array.isArray(raw)) throw new ArgsError(`invalid arguments for reducer ${name}: expected a JSON array`);
  if (raw.length !== reducer.params.length) {
    throw new ArgsError(`invalid arguments for reducer ${name}: expected ${reducer.params.length} arguments, got ${raw.length}`);
  }
  const args: RowObject = {};
  reducer.params.forEach((p, i) => {
    try {
      args[p.name] = argFromJson(p.type, raw[i]);
    } catch (err) {
      throw new ArgsError(`invalid arguments for reducer ${name}: ${p.name}: ${(err as Error).message}`);
    }
  });
  return args;
}

/** Runs one reducer call as a transaction over `tables`. */
export function runReducer(tables: Map<string, FakeTable>, reducer: FakeReducer, args: RowObject, sender: string | null): void {
  const restore = [...tables.values()].map((t) => t.snapshot());
  const ctx: ReducerContext = {
    table(name) {
      const t = tables.get(name);
      if (!t) throw new ReducerFailure(`no table ${name}`);
      return t;
    },
    timestampMicros: nextTimestamp(),
    sender,
  };
  try {
    reducer.run(ctx, args);
  } catch (err) {
    for (const undo of restore) undo();
    throw err instanceof ReducerFailure ? err : new ReducerFailure(`The reducer panicked: ${(err as Error).message}`);
  }
}
