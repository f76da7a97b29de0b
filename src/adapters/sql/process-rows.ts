import type { ProcessInstance, ProcessStatus } from '../../sagas/process-store.js';
import type { TimerRecord } from '../../sagas/timer-store.js';

/** A time as a driver returns it: epoch milliseconds (SQLite) or a `Date` (PostgreSQL). */
type Time = number | Date;

/** A `causeway_timers` row, JSON payload as text. */
export interface TimerRow {
  id: string;
  scope: string;
  key: string;
  name: string;
  due_at: Time;
  payload: string;
  created_at: Time;
  lease_owner: string | null;
  lease_expires_at: Time | null;
  fired_at: Time | null;
  attempts: number;
}

/** A `causeway_process_instances` row, state as JSON text (a bigint version comes as a string). */
export interface ProcessRow {
  manager: string;
  key: string;
  status: ProcessStatus;
  state: string;
  version: number | string;
  created_at: Time;
  updated_at: Time;
  completed_at: Time | null;
}

const date = (time: Time) => new Date(time);
const optionalDate = (time: Time | null) => (time === null ? undefined : new Date(time));

export function timerFromRow(row: TimerRow): TimerRecord {
  return {
    id: row.id,
    scope: row.scope,
    key: row.key,
    name: row.name,
    dueAt: date(row.due_at),
    payload: JSON.parse(row.payload) as unknown,
    createdAt: date(row.created_at),
    leaseOwner: row.lease_owner ?? undefined,
    leaseExpiresAt: optionalDate(row.lease_expires_at),
    firedAt: optionalDate(row.fired_at),
    attempts: row.attempts,
  };
}

export function processFromRow(row: ProcessRow): ProcessInstance {
  return {
    manager: row.manager,
    key: row.key,
    status: row.status,
    state: JSON.parse(row.state) as unknown,
    version: Number(row.version),
    createdAt: date(row.created_at),
    updatedAt: date(row.updated_at),
    completedAt: optionalDate(row.completed_at),
  };
}
