import { describe, expect, it } from 'vitest';
import { runCli } from '../cli/run-cli.js';

describe('causeway demo (the command behind npm start)', () => {
  it('runs the flow end to end, prints the summary table and exits 0', async () => {
    const result = await runCli(['demo', '--orders', '10']);
    expect(result.stderr).toContain('demo: orders API on http://127.0.0.1:');
    // Not a terminal: plain progress lines, no carriage-return redraws.
    expect(result.stderr).toMatch(/^orders: 100% \(10\/10, /m);
    expect(result.stderr).not.toContain('\r');
    expect(result.stdout).toMatch(/^ {2}orders placed +10 {2}/m);
    expect(result.stdout).toMatch(/^ {2}completed +7 {2}/m);
    expect(result.stdout).toMatch(
      /^ {2}compensated +3 {2}1 out of stock, 1 payment declined, 1 undeliverable$/m,
    );
    expect(result.stdout).toMatch(
      /^ {2}dead-lettered +1 {2}ReserveStock on demo-inventory: schema_violation/m,
    );
    expect(result.stdout).toMatch(/^ {2}p99 latency +\d+ ms/m);
    expect(result.code).toBe(0);
  }, 90_000);

  it('refuses a bad flag value with usage and exit code 2', async () => {
    const result = await runCli(['demo', '--orders', 'many']);
    expect(result.stderr).toContain("option '--orders <n>' argument 'many' is invalid");
    expect(result.stderr).toContain('Usage: causeway demo [options]');
    expect(result.code).toBe(2);
  });

  it('refuses broker flags without --distributed', async () => {
    const result = await runCli(['demo', '--transport', 'kafka']);
    expect(result.stderr).toContain(
      'error: --store, --transport and --keep-broker-data need --distributed',
    );
    expect(result.code).toBe(2);
  });

  it('refuses --keep-broker-data without --distributed', async () => {
    const result = await runCli(['demo', '--keep-broker-data']);
    expect(result.stderr).toContain(
      'error: --store, --transport and --keep-broker-data need --distributed',
    );
    expect(result.code).toBe(2);
  });

  it('refuses --distributed without a store and a broker', async () => {
    const result = await runCli(['demo', '--distributed', '--transport', 'nats']);
    expect(result.stderr).toContain(
      'error: --distributed needs --store <postgres-url> and --transport <kafka|rabbitmq|nats>',
    );
    expect(result.code).toBe(2);
  });
});
