import type { SagaAttempt, SagaErrorInfo, SagaInstance } from '../../sagas/saga-store.js';
import { formatTime, preview, type Column } from '../format.js';

/*
 * How `causeway sagas` prints instances: table columns for people, JSON lines (fixed keys,
 * absent values as null, exact times) for scripts.
 */

const iso = (time: Date | undefined) => time?.toISOString() ?? null;

function errorText(error: SagaErrorInfo): string {
  return `${error.name}${error.code === undefined ? '' : ` [${error.code}]`}: ${error.message}`;
}

function leaseText(instance: SagaInstance): string {
  return instance.leaseOwner === undefined
    ? '-'
    : `${instance.leaseOwner} until ${formatTime(instance.leaseExpiresAt!)}`;
}

export const SAGA_COLUMNS: Column<SagaInstance>[] = [
  { header: 'ID', value: (i) => i.id },
  { header: 'NAME', value: (i) => i.name },
  { header: 'STATUS', value: (i) => i.status },
  { header: 'STEP', value: (i) => i.currentStep ?? '-' },
  { header: 'ATTEMPT', value: (i) => String(i.attempt), alignRight: true },
  { header: 'UPDATED', value: (i) => formatTime(i.updatedAt) },
  { header: 'LEASE', value: leaseText },
  { header: 'ERROR', value: (i) => (i.error ? preview(errorText(i.error), 60) : '-') },
];

const durationText = (a: SagaAttempt) =>
  a.endedAt === undefined ? '-' : `${a.endedAt.getTime() - a.startedAt.getTime()} ms`;

export const ATTEMPT_COLUMNS: Column<SagaAttempt & { n: number }>[] = [
  { header: '#', value: (a) => String(a.n), alignRight: true },
  { header: 'STEP', value: (a) => a.step },
  { header: 'KIND', value: (a) => a.kind },
  { header: 'ATTEMPT', value: (a) => String(a.attempt), alignRight: true },
  { header: 'OUTCOME', value: (a) => a.outcome },
  { header: 'STARTED', value: (a) => formatTime(a.startedAt) },
  { header: 'DURATION', value: durationText, alignRight: true },
  { header: 'ERROR', value: (a) => (a.error ? preview(errorText(a.error), 60) : '-') },
];

export function sagaToJson(i: SagaInstance): Record<string, unknown> {
  return {
    id: i.id,
    name: i.name,
    status: i.status,
    currentStep: i.currentStep ?? null,
    attempt: i.attempt,
    version: i.version,
    createdAt: i.createdAt.toISOString(),
    updatedAt: i.updatedAt.toISOString(),
    endedAt: iso(i.endedAt),
    leaseOwner: i.leaseOwner ?? null,
    leaseExpiresAt: iso(i.leaseExpiresAt),
    abortRequestedAt: iso(i.abortRequestedAt),
    error: i.error ? { step: i.error.step, kind: i.error.kind, ...errorJson(i.error) } : null,
    completedSteps: i.completedSteps,
    uncertainSteps: i.uncertainSteps,
    compensatedSteps: i.compensatedSteps,
    visits: i.visits,
    data: i.data,
    history: i.history.map((a) => ({
      step: a.step,
      kind: a.kind,
      attempt: a.attempt,
      idempotencyKey: a.idempotencyKey,
      outcome: a.outcome,
      startedAt: a.startedAt.toISOString(),
      endedAt: iso(a.endedAt),
      durationMs: a.endedAt === undefined ? null : a.endedAt.getTime() - a.startedAt.getTime(),
      error: a.error ? errorJson(a.error) : null,
    })),
  };
}

function errorJson(error: SagaErrorInfo) {
  return { name: error.name, code: error.code ?? null, message: error.message };
}

/** `sagas show` for people: the instance, then its attempts as a table. */
export function sagaDetailLines(i: SagaInstance): string[] {
  const time = (t: Date | undefined) => (t === undefined ? '-' : t.toISOString());
  return [
    `id:               ${i.id}`,
    `name:             ${i.name}`,
    `status:           ${i.status}`,
    `step:             ${i.currentStep === undefined ? '-' : `${i.currentStep} (attempt ${i.attempt})`}`,
    `version:          ${i.version}`,
    `created:          ${time(i.createdAt)}`,
    `updated:          ${time(i.updatedAt)}`,
    `ended:            ${time(i.endedAt)}`,
    `lease:            ${leaseText(i)}`,
    `abort requested:  ${time(i.abortRequestedAt)}`,
    `error:            ${i.error ? `${i.error.step} (${i.error.kind}) ${errorText(i.error)}` : '-'}`,
    `completed steps:  ${i.completedSteps.join(', ') || '-'}`,
    // Failed steps compensated anyway: their effect may have happened after they gave up.
    `uncertain steps:  ${i.uncertainSteps.map((u) => `${u.step} (attempt ${u.attempt} ${u.outcome})`).join(', ') || '-'}`,
    `compensated:      ${i.compensatedSteps.join(', ') || '-'}`,
    `data:             ${JSON.stringify(i.data)}`,
    `attempts:         ${i.history.length}`,
  ];
}
