import { processManagerContract } from '../contracts/process-manager.contract.js';
import { timerStoreContract } from '../contracts/timer-store.contract.js';
import { memoryProcessHarness } from './memory-process-harness.js';

timerStoreContract(memoryProcessHarness());
processManagerContract(memoryProcessHarness());
