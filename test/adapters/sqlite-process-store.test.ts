import { processManagerContract } from '../contracts/process-manager.contract.js';
import { timerStoreContract } from '../contracts/timer-store.contract.js';
import { sqliteProcessHarness } from './fixtures/sqlite-process-harness.js';

timerStoreContract(sqliteProcessHarness());
processManagerContract(sqliteProcessHarness());
