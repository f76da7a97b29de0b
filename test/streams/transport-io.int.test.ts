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
    publishPoison: (driver, destination, body) =>
      (driver as KafkaTransportDriver).publishRaw(destination, [{ headers: {}, body }]),
    deadLetters: async (driver, destination) =>
      (await (driver as KafkaTransportDriver).deadLetterStore.list({ destination })).map(
        (letter) => ({ body: letter.message.body, reason: letter.failure.reason }),
      ),
    cleanup: () => deleteDestinations(prefix, destinations),
  };
});
