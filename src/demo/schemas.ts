/**
 * What crosses a boundary gets checked there: `POST /orders` bodies by fastify's JSON
 * schema, commands arriving at a service by a Standard Schema in the consumer's registry (a
 * malformed command is dead-lettered as `schema_violation`, never retried).
 */
import type { StandardSchemaV1 } from '../core/schema.js';
import { EventRegistry } from '../event-store/event-registry.js';

/** JSON schema of `POST /orders` (fastify validates it with ajv). */
export const orderRequestSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['customerId', 'items', 'card', 'shipTo'],
  properties: {
    customerId: { type: 'string', minLength: 1, maxLength: 100 },
    card: { type: 'string', pattern: '^[0-9]{12,19}$' },
    shipTo: {
      type: 'object',
      additionalProperties: false,
      required: ['postcode', 'country'],
      properties: {
        postcode: { type: 'string', minLength: 1, maxLength: 20 },
        country: { type: 'string', pattern: '^[A-Z]{2}$' },
      },
    },
    items: {
      type: 'array',
      minItems: 1,
      maxItems: 50,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['sku', 'quantity', 'unitPriceCents'],
        properties: {
          sku: { type: 'string', minLength: 1, maxLength: 100 },
          quantity: { type: 'integer', minimum: 1, maximum: 1000 },
          unitPriceCents: { type: 'integer', minimum: 0 },
        },
      },
    },
  },
} as const;

type Issue = StandardSchemaV1.Issue;

/** A Standard Schema from a plain check: the kernel's registry accepts any. */
function schema<T>(check: (value: Record<string, unknown>) => Issue[]): StandardSchemaV1<T> {
  return {
    '~standard': {
      version: 1,
      vendor: 'causeway-demo',
      validate: (value) => {
        if (typeof value !== 'object' || value === null || Array.isArray(value))
          return { issues: [{ message: 'must be an object', path: [] }] };
        const issues = check(value as Record<string, unknown>);
        return issues.length > 0 ? { issues } : { value: value as T };
      },
    },
  };
}

const text = (value: Record<string, unknown>, key: string): Issue[] =>
  typeof value[key] === 'string' && value[key] !== ''
    ? []
    : [{ message: 'must be a non-empty string', path: [key] }];

const lines = (value: Record<string, unknown>): Issue[] => {
  const items = value['items'];
  if (!Array.isArray(items) || items.length === 0)
    return [{ message: 'must be a non-empty array', path: ['items'] }];
  return items.flatMap((item: unknown, index): Issue[] => {
    const line = (item ?? {}) as Record<string, unknown>;
    const issues: Issue[] = text(line, 'sku').map((i) => ({ ...i, path: ['items', index, 'sku'] }));
    const quantity = line['quantity'];
    if (!Number.isSafeInteger(quantity) || (quantity as number) < 1)
      issues.push({ message: 'must be an integer >= 1', path: ['items', index, 'quantity'] });
    return issues;
  });
};

const amount = (value: Record<string, unknown>): Issue[] =>
  Number.isSafeInteger(value['amountCents']) && (value['amountCents'] as number) >= 0
    ? []
    : [{ message: 'must be an integer >= 0', path: ['amountCents'] }];

/** Every command the services accept, with the schema its data must pass. */
export const commandRegistry = new EventRegistry()
  .register('ReserveStock', { schema: schema((v) => [...text(v, 'orderId'), ...lines(v)]) })
  .register('ReleaseStock', { schema: schema((v) => [...text(v, 'orderId'), ...lines(v)]) })
  .register('ChargePayment', {
    schema: schema((v) => [...text(v, 'orderId'), ...text(v, 'card'), ...amount(v)]),
  })
  .register('RefundPayment', { schema: schema((v) => [...text(v, 'orderId')]) })
  .register('CreateShipment', {
    schema: schema((v) => [...text(v, 'orderId'), ...text(v, 'country')]),
  })
  .register('CancelShipment', { schema: schema((v) => [...text(v, 'orderId')]) });
