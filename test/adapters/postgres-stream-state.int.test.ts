import { streamStateContract } from '../contracts/stream-state.contract.js';
import { postgresStreamStateHarness } from './fixtures/postgres-stream-state-harness.js';

streamStateContract(postgresStreamStateHarness());
