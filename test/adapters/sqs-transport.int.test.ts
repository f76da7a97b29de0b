import { transportContract } from '../contracts/transport.contract.js';
import { sqsTransportHarness } from './fixtures/sqs-transport-harness.js';

transportContract(sqsTransportHarness({ fifo: false }));
transportContract(sqsTransportHarness({ fifo: true }));
