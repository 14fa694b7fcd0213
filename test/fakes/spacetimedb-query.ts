/**
 * Executes a parsed SELECT against the fake's tables the way SpacetimeDB's query engine does: names
 * are resolved first (unknown table/column → the real error text), comparisons are type-checked
 * (a literal takes the type of the column it is compared with; Option columns cannot be compared),
 * then rows are filtered in storage order, LIMIT cuts without ordering, and the answer is one
 * statement result `{schema, rows, total_duration_micros, stats}`.
 */
import type { FakeTable } from './spacetimedb-db';
import { SqlError, parseSelect, type ColRef, type CmpOp, type Expr, type Select } from './spacetimedb-sql';
import { comparable, compareValues, literalValue, typeToWire, valueToWire, type Column, type ColumnType } from './spacetimedb-types';

type Row = unknown[];
type Getter = (row: Row) => unknown;
type Predicate = (row: Row) => boolean;

export interface StatementResult {
  schema: { elements: { name: { some: string }; algebraic_type: unknown }[] };
  rows: unknown[][];
  total_duration_micros: number;
  stats: { rows_inserted: number; rows_deleted: number; rows_updated: number };
}

const OPS: Record<CmpOp, (c: number) => boolean> = {
  '=': (c) => c === 0,
  '<>': (c) => c !== 0,
  '<': (c) => c < 0,
  '>': (c) => c > 0,
  '<=': (c) => c <= 0,
  '>=': (c) => c >= 0,
};

class Scope {
  constructor(
    private readonly sel: Select,
    private readonly table: FakeTable,
  ) {}

  resolve(col: ColRef): { index: number; column: Column } {
    if (col.table !== null && col.table !== this.sel.alias) throw new SqlError(`\`${col.table}\` is not in scope`);
    const index = this.table.columns.findIndex((c) => c.name === col.name);
    const column = this.table.columns[index];
    if (!column) throw new SqlError(`\`${this.sel.alias}\` does not have a field \`${col.name}\``);
    return { index, column };
  }

  predicate(expr: Expr): Predicate {
    switch (expr.kind) {
      case 'logic': {
        const l = this.predicate(expr.left);
        const r = this.predicate(expr.right);
        return expr.op === 'AND' ? (row) => l(row) && r(row) : (row) => l(row) || r(row);
      }
      case 'cmp':
        return this.comparison(expr.op, expr.left, expr.right);
      case 'lit': {
        const value = literalValue(expr, 'Bool');
        return () => value === true;
      }
      case 'col': {
        const { index, column } = this.resolve(expr);
        if (column.type !== 'Bool') throw new SqlError(`Unexpected type: (expected) Bool != ${column.type} (inferred)`);
        return (row) => row[index] === true;
      }
    }
  }

  private comparison(op: CmpOp, left: Expr, right: Expr): Predicate {
    if (left.kind === 'lit' && right.kind === 'lit') throw new SqlError('Cannot resolve type for literal expression');
    if (left.kind === 'cmp' || left.kind === 'logic' || right.kind === 'cmp' || right.kind === 'logic') {
      throw new SqlError('Unsupported: comparing boolean expressions is not supported by the fake SpacetimeDB (nor used by the sidecar)');
    }
    const anchor = left.kind === 'col' ? left : (right as ColRef);
    const type = this.resolve(anchor).column.type;
    if (!comparable(type)) throw new SqlError(`Invalid binary operator \`${op}\` for type \`${type}\``);
    const l = this.operand(left, type);
    const r = this.operand(right, type);
    const test = OPS[op];
    return (row) => test(compareValues(l(row), r(row)));
  }

  private operand(expr: ColRef | Extract<Expr, { kind: 'lit' }>, type: ColumnType): Getter {
    if (expr.kind === 'lit') {
      const value = literalValue(expr, type);
      return () => value;
    }
    const { index, column } = this.resolve(expr);
    if (column.type !== type) throw new SqlError(`Unexpected type: (expected) ${type} != ${column.type} (inferred)`);
    return (row) => row[index];
  }
}

export function executeSql(tables: Map<string, FakeTable>, sql: string): StatementResult {
  const started = performance.now();
  const sel = parseSelect(sql);
  const table = tables.get(sel.table);
  if (!table) throw new SqlError(`\`${sel.table}\` is not a valid table`);
  const scope = new Scope(sel, table);
  const keep = sel.where ? scope.predicate(sel.where) : () => true;

  let columns: { name: string; type: ColumnType; get: Getter }[];
  if (sel.projection.kind === 'star') {
    columns = table.columns.map((c, i) => ({ name: c.name, type: c.type, get: (row: Row) => row[i] }));
  } else if (sel.projection.kind === 'cols') {
    columns = sel.projection.items.map(({ col, alias }) => {
      const { index, column } = scope.resolve(col);
      return { name: alias, type: column.type, get: (row: Row) => row[index] };
    });
  } else {
    columns = [];
  }

  const matching = table.rows.filter(keep);
  let rows: unknown[][];
  let elements: { name: string; type: ColumnType }[];
  if (sel.projection.kind === 'count') {
    // COUNT always answers one row, even for an empty input; LIMIT applies to that row.
    elements = [{ name: sel.projection.alias, type: 'U64' }];
    rows = [[matching.length]];
  } else {
    elements = columns;
    rows = matching.map((row) => columns.map((c) => valueToWire(c.type, c.get(row))));
  }
  if (sel.limit !== null) rows = rows.slice(0, sel.limit);
  return {
    schema: { elements: elements.map((e) => ({ name: { some: e.name }, algebraic_type: typeToWire(e.type) })) },
    rows,
    total_duration_micros: Math.round((performance.now() - started) * 1000),
    stats: { rows_inserted: 0, rows_deleted: 0, rows_updated: 0 },
  };
}
