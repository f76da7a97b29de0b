import { outboxContract } from '../contracts/outbox.contract.js';
import { sqliteOutboxHarness } from './fixtures/sqlite-messaging-harness.js';

outboxContract(sqliteOutboxHarness());
