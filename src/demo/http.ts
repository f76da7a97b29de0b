/**
 * The orders service's HTTP API on fastify. `POST /orders` is validated by JSON schema (a 400
 * names each bad field by its path, e.g. `items[0].quantity`) and answers 202 once the
 * `OrderCreated` event is stored: fulfilment happens afterwards, through the saga.
 */
import { fastify, type FastifyError, type FastifyInstance } from 'fastify';
import { formatPath } from '../core/errors.js';
import { newId } from '../core/ids.js';
import type { CommandBus } from '../cqrs/bus.js';
import type { OrderCommands } from './fulfilment.js';
import type { OrderRequest } from './order.js';
import type { OrderViews, ViewStatus } from './order-views.js';
import { orderRequestSchema } from './schemas.js';

/** What `GET /metrics` serves (Prometheus text format). */
export interface MetricsEndpoint {
  readonly contentType: string;
  render(): Promise<string>;
}

export interface OrdersApiOptions {
  commands: CommandBus<OrderCommands>;
  views: OrderViews;
  metrics: MetricsEndpoint;
}

/** One field the body got wrong. */
export interface FieldIssue {
  path: string;
  message: string;
}

const CORRELATION = /^[A-Za-z0-9._:-]{1,100}$/;
const STATUSES: readonly ViewStatus[] = ['pending', 'confirmed', 'cancelled'];

export function ordersApi(options: OrdersApiOptions): FastifyInstance {
  // No type coercion: `"quantity": "3"` is a client bug to report, not to guess at.
  const app = fastify({ ajv: { customOptions: { allErrors: true, coerceTypes: false } } });

  app.setErrorHandler((error: FastifyError, _request, reply) => {
    if (error.validation) {
      const issues = error.validation.map((v): FieldIssue => {
        const path = v.instancePath
          .split('/')
          .filter((s) => s !== '')
          .map((s) => (/^\d+$/.test(s) ? Number(s) : s.replace(/~1/g, '/').replace(/~0/g, '~')));
        const field = v.params['missingProperty'] ?? v.params['additionalProperty'];
        if (typeof field === 'string') path.push(field);
        return { path: formatPath(path), message: v.message ?? 'is invalid' };
      });
      return reply.code(400).send({
        error: 'validation',
        message: `Invalid ${error.validationContext ?? 'request'}: ${issues.map((i) => `${i.path} ${i.message}`).join('; ')}`,
        issues,
      });
    }
    const status =
      error.statusCode !== undefined && error.statusCode < 500 ? error.statusCode : 500;
    if (status === 500) app.log.error(error);
    return reply
      .code(status)
      .send({ error: status === 500 ? 'internal' : error.code, message: error.message });
  });

  app.post<{ Body: OrderRequest }>(
    '/orders',
    { schema: { body: orderRequestSchema } },
    async (request, reply) => {
      const orderId = newId();
      const given = request.headers['x-correlation-id'];
      const correlationId = typeof given === 'string' && CORRELATION.test(given) ? given : newId();
      await options.commands.execute(
        'CreateOrder',
        { orderId, request: request.body },
        { correlationId },
      );
      return reply
        .code(202)
        .header('location', `/orders/${orderId}`)
        .send({ orderId, correlationId, status: 'pending' });
    },
  );

  app.get<{ Params: { id: string } }>('/orders/:id', async (request, reply) => {
    const view = await options.views.get(request.params.id);
    if (!view)
      return reply.code(404).send({ error: 'not_found', message: `No order ${request.params.id}` });
    return view;
  });

  app.get<{ Querystring: { status?: ViewStatus; limit?: string } }>(
    '/orders',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            status: { type: 'string', enum: STATUSES },
            limit: { type: 'string', pattern: '^[1-9][0-9]{0,3}$' },
          },
        },
      },
    },
    async (request) => ({
      orders: await options.views.list(request.query.status, Number(request.query.limit ?? 100)),
    }),
  );

  serveMetrics(app, options.metrics);
  return app;
}

/** A service process's HTTP server: `GET /metrics` and nothing else. */
export function metricsApi(metrics: MetricsEndpoint): FastifyInstance {
  return serveMetrics(fastify(), metrics);
}

function serveMetrics(app: FastifyInstance, metrics: MetricsEndpoint): FastifyInstance {
  app.get('/metrics', async (_request, reply) =>
    reply.header('content-type', metrics.contentType).send(await metrics.render()),
  );
  return app;
}
