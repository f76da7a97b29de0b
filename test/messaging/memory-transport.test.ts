import { transportContract } from '../contracts/transport.contract.js';
import { createHarness } from '../adapters/fixtures/memory-transport-harness.js';

transportContract(createHarness());
