export {
  defineProjection,
  LeaseLostError,
  ProjectionFailedError,
  type ProjectionDefinition,
  type ProjectionHandler,
  type ProjectionState,
  type ProjectionStatus,
  type ProjectionStore,
} from './projection.js';
export {
  defineTable,
  physicalTableName,
  type ColumnType,
  type FindOptions,
  type ReadModelSession,
  type Row,
  type SortOrder,
  type SqlExecutor,
  type Table,
  type TableDefinition,
} from './read-model.js';
export { MemoryProjectionStore } from './memory-projection-store.js';
export {
  ProjectionRunner,
  type ProjectionProgress,
  type ProjectionRunnerOptions,
  type RunnerState,
} from './projection-runner.js';
export { rebuildBlueGreen, rebuildProjection, type RebuildOptions } from './rebuild.js';
