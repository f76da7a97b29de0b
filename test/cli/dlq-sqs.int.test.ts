import { SqsTransportDriver } from 'causeway/sqs';
import { afterAll, describe, expect, it } from 'vitest';
import {
  runPrefix,
  sqsEndpoint,
  sqsTestOptions,
  testClientConfig,
} from '../adapters/fixtures/sqs-transport-harness.js';
import { brokerDlqCases } from './broker-dlq-cases.js';
import { runCli } from './run-cli.js';

// One queue prefix per run: the CLI sees this run's dead letters and nobody else's.
const prefix = runPrefix('cli');
const region = testClientConfig.region;
/** The CLI takes credentials from the SDK's chain, as it would on a developer's machine. */
const env = {
  AWS_ACCESS_KEY_ID: testClientConfig.credentials.accessKeyId,
  AWS_SECRET_ACCESS_KEY: testClientConfig.credentials.secretAccessKey,
  // The SDK warns on stderr about Node 20 (support ends in 2027); the scenario wants stderr clean.
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
};
const cli = (args: readonly string[]) => runCli(args, { env });

afterAll(async () => {
  const admin = new SqsTransportDriver(sqsTestOptions(prefix));
  try {
    await admin.deleteDestination('orders');
  } finally {
    await admin.close();
  }
});

brokerDlqCases({
  name: 'Amazon SQS',
  flags: ['--sqs', sqsEndpoint, '--sqs-region', region, '--sqs-prefix', prefix],
  env,
  async open() {
    const driver = new SqsTransportDriver(sqsTestOptions(prefix));
    return { driver, store: driver.deadLetterStore };
  },
});

describe('causeway dlq --sqs: where the dead letters are', () => {
  it('refuses --sqs mixed with another place, its other flags without it, two regions, and a value that is neither region nor URL', async () => {
    const mixed = await cli(['dlq', 'count', '--sqs', sqsEndpoint, '--redis', 'redis://x']);
    expect(mixed.code).toBe(2);
    expect(mixed.stderr).toContain('--redis and --sqs name two different places');
    const withDb = await cli(['dlq', 'count', '--sqs', 'eu-west-1', '--db', 'x.db']);
    expect(withDb.code).toBe(2);
    expect(withDb.stderr).toContain('--sqs and --db/--schema');
    for (const [flag, ...value] of [
      ['--sqs-prefix', 'p'],
      ['--sqs-region', 'eu-west-1'],
      ['--sqs-fifo'],
    ]) {
      const alone = await cli(['dlq', 'count', flag!, ...value]);
      expect(alone.code).toBe(2);
      expect(alone.stderr).toContain(`${flag} only applies with --sqs`);
    }
    const twoRegions = await cli([
      'dlq',
      'count',
      '--sqs',
      'eu-west-1',
      '--sqs-region',
      'us-east-1',
    ]);
    expect(twoRegions.code).toBe(2);
    expect(twoRegions.stderr).toContain('both name the region');
    const bad = await cli(['dlq', 'count', '--sqs', 'sqs://user:secret@host']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('is not a SQS region or endpoint URL');
    expect(bad.stderr).not.toContain('secret');
  });

  it('reports an endpoint that is not there as unreachable', async () => {
    const unreachable = await cli([
      'dlq',
      'count',
      '--sqs',
      'http://127.0.0.1:1',
      '--sqs-region',
      region,
    ]);
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toContain('Cannot reach the store at http://127.0.0.1:1');
  });

  it('finds no dead letters where the prefix has no queues, FIFO or not', async () => {
    for (const fifo of [[], ['--sqs-fifo']]) {
      const empty = await cli([
        'dlq',
        'count',
        '--sqs',
        sqsEndpoint,
        '--sqs-region',
        region,
        '--sqs-prefix',
        runPrefix('none'),
        ...fifo,
      ]);
      expect(empty.stderr).toBe('');
      expect(empty).toMatchObject({ code: 0, stdout: '0\n' });
    }
  });
});
