/** The kernel never imports adapters, the CLI or the server; nothing has import cycles. */
const kernel = '^src/(core|event-store|domain|cqrs|projections|messaging|sagas|streams|testing)/';
module.exports = {
  forbidden: [
    {
      name: 'kernel-imports-outer-ring',
      severity: 'error',
      comment:
        'Kernel folders stay free of drivers, the CLI and the HTTP server (ARCHITECTURE.md).',
      from: { path: kernel },
      to: { path: '^src/(adapters|cli|server)/' },
    },
    {
      name: 'kernel-imports-driver',
      severity: 'error',
      comment: 'Drivers are optional peer dependencies: only adapters may import them.',
      from: { path: kernel },
      to: {
        path: 'node_modules/(better-sqlite3|pg|pg-[a-z-]+|amqplib|@nats-io/[^/]+|@platformatic/kafka|redis|@redis/[^/]+|@aws-sdk/[^/]+|ws|prom-client)/',
      },
    },
    {
      name: 'no-circular',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'adapters-stay-apart',
      severity: 'error',
      comment:
        'One adapter never reaches into another adapter (SNS fans out to SQS queues, so it may use the SQS adapter).',
      from: { path: '^src/adapters/([^/]+)/', pathNot: '^src/adapters/sns/' },
      to: { path: '^src/adapters/', pathNot: '^src/adapters/($1|sql)/' },
    },
    {
      name: 'sns-uses-only-sqs',
      severity: 'error',
      from: { path: '^src/adapters/sns/' },
      to: { path: '^src/adapters/', pathNot: '^src/adapters/(sns|sqs|sql)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { conditionNames: ['source', 'import', 'default'] },
  },
};
