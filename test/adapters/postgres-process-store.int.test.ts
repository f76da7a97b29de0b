import { processManagerContract } from '../contracts/process-manager.contract.js';
import { timerStoreContract } from '../contracts/timer-store.contract.js';
import { postgresProcessHarness } from './fixtures/postgres-process-harness.js';

timerStoreContract(postgresProcessHarness());
processManagerContract(postgresProcessHarness());
