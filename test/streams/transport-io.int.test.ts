import { KafkaTransportDriver } from 'causeway/kafka';
import {
  deleteDestinations,
  freshPrefix,
  kafkaSettings,
} from '../adapters/fixtures/kafka-transport-harness.js';
import { transportIoCases } from './fixtures/transport-io-cases.js';

transportIoCases('kafka', () => {
  const prefix = freshPrefix();
  const destinations: string[] = [];
  return {
    connect: () => KafkaTransportDriver.connect(kafkaSettings(prefix)),
    destination: () => {
      const destination = `stream-${destinations.length + 1}`;
      destinations.push(destination);
      return destination;
    },
    cleanup: () => deleteDestinations(prefix, destinations),
  };
});
