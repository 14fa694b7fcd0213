// Every table of the sidecar's own database; drizzle-kit reads this file to generate migrations.
export * from './meta';
export * from './wallet';
export * from './mpp';
export * from './sessions';
export * from './tasks';
export * from './memory';
