/**
 * Topic names per destination and group, after Pulsar's own `reconsumeLater` and dead-letter
 * conventions (`<topic>-<subscription>-RETRY`, `<topic>-<subscription>-DLQ`), so Pulsar's
 * tools show them where operators expect them. Names are local to the configured namespace.
 */
export const retryTopic = (destination: string, group: string) => `${destination}-${group}-RETRY`;
export const deadLetterTopic = (destination: string, group: string) =>
  `${destination}-${group}-DLQ`;

/** The subscription whose backlog is the set of live dead letters of a dead-letter topic. */
export const DEAD_LETTER_SUBSCRIPTION = 'causeway-dlq';

export const isDeadLetterTopic = (topic: string) => topic.endsWith('-DLQ');

/** Whether `topic` is `destination` itself or one of its groups' retry or dead-letter topics. */
export function belongsTo(topic: string, destination: string): boolean {
  return (
    topic === destination ||
    (topic.startsWith(`${destination}-`) && (topic.endsWith('-RETRY') || topic.endsWith('-DLQ')))
  );
}
