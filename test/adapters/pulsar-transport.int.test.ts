import { transportContract } from '../contracts/transport.contract.js';
import { pulsarTransportHarness } from './fixtures/pulsar-transport-harness.js';

transportContract(pulsarTransportHarness());
