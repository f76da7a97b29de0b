import { randomBytes } from 'node:crypto';
import { transportContract } from '../contracts/transport.contract.js';
import { kafkaHarness } from './fixtures/kafka-transport-harness.js';

const prefix = `cw-test-${randomBytes(4).toString('hex')}`;

transportContract(kafkaHarness(prefix));
