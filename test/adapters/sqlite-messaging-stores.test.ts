import { idempotencyContract } from '../contracts/idempotency.contract.js';
import { inboxContract } from '../contracts/inbox.contract.js';
import { outboxContract } from '../contracts/outbox.contract.js';
import {
  sqliteIdempotencyHarness,
  sqliteInboxHarness,
  sqliteOutboxHarness,
} from './fixtures/sqlite-messaging-harness.js';

outboxContract(sqliteOutboxHarness());
inboxContract(sqliteInboxHarness());
idempotencyContract(sqliteIdempotencyHarness());
