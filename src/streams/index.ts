/**
 * Stream processing: a typed topology (`TopologyBuilder`), run record by record on event
 * time by a `StreamRuntime`, with windows, joins and state stores. See README "Stream processing".
 */
export {
  GroupedStream,
  SessionWindowedStream,
  Stream,
  StreamTable,
  TopologyBuilder,
  WindowedStream,
  WindowedTable,
  type JoinOptions,
  type Topology,
} from './topology.js';
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
  type StreamSink,
  type StreamSource,
} from './ports.js';
export { StreamTask, type StreamTaskOptions } from './task.js';
