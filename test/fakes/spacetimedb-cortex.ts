/**
 * The `optx-cortex` module as the sidecar relies on it (SPEC §9, §11): one table `memory_entry` and
 * the reducers `store_memory` (upsert by key) and `delete_memory`. The module's source is not
 * public; the columns and argument order follow the SPEC and the first (Python) hermes-optx-api
 * client, and every choice the SPEC leaves open is listed in docs/spacetimedb.md.
 */
import { FakeTable, ReducerFailure, type FakeReducer } from './spacetimedb-db';
import type { Column } from './spacetimedb-types';

export const MEMORY_ENTRY_COLUMNS: Column[] = [
  { name: 'id', type: 'U64' },
  { name: 'category', type: 'String' },
  { name: 'key', type: 'String' },
  { name: 'value', type: 'String' },
  { name: 'source', type: 'String' },
  { name: 'owner', type: 'String' },
  { name: 'importance', type: 'U8' },
  { name: 'session_id', type: 'String' },
  { name: 'created_at', type: 'Timestamp' },
];

export function memoryEntryTable(): FakeTable {
  return new FakeTable('memory_entry', MEMORY_ENTRY_COLUMNS, { autoInc: 'id', unique: ['id', 'key'] });
}

/** store_memory(category, key, value_json, source, owner, importance 0..10, session_id). */
export const storeMemory: FakeReducer = {
  // The arguments are the table's own columns in table order, less the two the module fills in.
  params: MEMORY_ENTRY_COLUMNS.filter((c) => c.name !== 'id' && c.name !== 'created_at'),
  run(ctx, args) {
    if (args.key === '') throw new ReducerFailure('key must not be empty');
    if ((args.importance as number) > 10) throw new ReducerFailure(`importance must be 0..10, got ${String(args.importance)}`);
    const table = ctx.table('memory_entry');
    const fields = {
      category: args.category,
      value: args.value,
      source: args.source,
      owner: args.owner,
      importance: args.importance,
      session_id: args.session_id,
    };
    // An existing key keeps its id and created_at; everything else is replaced.
    if (!table.update('key', args.key, fields)) table.insert({ id: 0, key: args.key, created_at: ctx.timestampMicros, ...fields });
  },
};

/** delete_memory(key): removes the row with that key; a missing key is not an error. */
export const deleteMemory: FakeReducer = {
  params: [{ name: 'key', type: 'String' }],
  run(ctx, args) {
    ctx.table('memory_entry').delete('key', args.key);
  },
};
