// Every table of the sidecar's own database; drizzle-kit reads this file to generate migrations.
export * from './meta';
export * from './memory';
