/**
 * Stream processing: a typed topology (`TopologyBuilder`), run record by record on event
 * time by a `StreamRuntime`, with windows, joins and state stores. See README "Stream processing".
 */
export { TopologyBuilder, type Topology } from './topology.js';
export {
  GroupedStream,
  SessionWindowedStream,
  Stream,
  StreamTable,
  WindowedStream,
  WindowedTable,
  type JoinOptions,
} from './stream.js';
export {
  DEAD_LETTER_HEADERS,
  outputMessageId,
  StreamRuntime,
  type StreamMetrics,
} from './runtime.js';
export {
  keyIdOf,
  recordFromEvent,
  recordFromMessage,
  streamRecord,
  type OutputRecord,
  type StreamRecord,
  type TimeWindow,
  type Windowed,
} from './record.js';
export {
  JoinWindows,
  Windows,
  type EmitMode,
  type HoppingWindows,
  type SessionWindows,
  type TumblingWindows,
  type WindowSpec,
} from './windows.js';
export {
  MemoryKeyValueStore,
  MemoryStateBackend,
  MemoryWindowStore,
  type CommitUnit,
  type KeyValueStore,
  type StateBackend,
  type WindowEntry,
  type WindowStore,
} from './stores.js';
export {
  MemoryStreamSink,
  MemoryStreamSource,
  type SourceReadOptions,
  type StreamSink,
  type StreamSource,
} from './ports.js';
export { EventStoreSource, type EventStoreSourceOptions } from './sources/event-store-source.js';
export { TransportSource, type TransportSourceOptions } from './sources/transport-source.js';
export { DEFAULT_REDELIVERY_CAPACITY } from './sources/redelivery-log.js';
export { EventStoreSink, type EventStoreSinkOptions } from './sinks/event-store-sink.js';
export { TransportSink, type TransportSinkOptions } from './sinks/transport-sink.js';
export { StreamTask, type StreamTaskOptions } from './task.js';
export { OperatorFailedError, StateFencedError } from './errors.js';
export { DurableStateBackend, type DurableStateOptions, type StateCodec } from './durable-state.js';
export { MemoryStateRepository } from './memory-state-repository.js';
export { tableWriteOf, tableWritesOf, validateTableSink } from './state-repository.js';
export type {
  ClaimRequest,
  OutboxRow,
  ScopeOwner,
  SqlValue,
  StateChanges,
  StateRepository,
  StoredKeyValue,
  StoredState,
  StoredWindow,
  TableSinkSpec,
  TableWrite,
} from './state-repository.js';
export {
  PartitionedSource,
  partitionOf,
  PartitionWorker,
  type PartitionWorkerOptions,
} from './partitions.js';
