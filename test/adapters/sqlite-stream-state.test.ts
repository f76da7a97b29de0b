import { streamStateContract } from '../contracts/stream-state.contract.js';
import { sqliteStreamStateHarness } from './fixtures/sqlite-stream-state-harness.js';

streamStateContract(sqliteStreamStateHarness());
