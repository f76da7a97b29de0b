import { transportContract } from '../contracts/transport.contract.js';
import { redisTransportHarness } from './fixtures/redis-transport-harness.js';

transportContract(redisTransportHarness());
