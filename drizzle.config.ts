import { defineConfig } from 'drizzle-kit';

// Migrations are generated from src/db/schema and embedded in the binary by scripts/gen-migrations.ts.
export default defineConfig({
  dialect: 'sqlite',
  schema: './src/db/schema/index.ts',
  out: './drizzle',
});
