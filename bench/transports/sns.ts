import {
  CreateTopicCommand,
  DeleteTopicCommand,
  PublishBatchCommand,
  PublishCommand,
  SNSClient,
  SubscribeCommand,
} from '@aws-sdk/client-sns';
import {
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  SetQueueAttributesCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import {
  attributes,
  awsClientConfig,
  createQueue,
  inBatches,
  MOTO_NOTE,
  queueDriverCauseway,
  rawQueueContestant,
} from './sqs.js';
import { uniqueName, type TransportEntrant } from './workload.js';

/**
 * SNS → SQS contestants, on moto like `sqs.ts` (only the ratio means anything): one topic per
 * destination, one SQS queue per group subscribed with raw message delivery; publishes are
 * `Publish` (one message) or `PublishBatch` of 10 at a time, one after the other; consuming is
 * the same raw SQS loop as the SQS case (`causeway/sns` consumes with `causeway/sqs`'s poller).
 */

export async function snsSettings(endpoint: string): Promise<Record<string, string>> {
  const sns = new SNSClient(awsClientConfig(endpoint));
  try {
    const { TopicArn } = await sns.send(
      new CreateTopicCommand({ Name: uniqueName('bench-probe') }),
    );
    await sns.send(new DeleteTopicCommand({ TopicArn }));
  } finally {
    sns.destroy();
  }
  return {
    'sns.server': `${endpoint}: ${MOTO_NOTE}`,
    'sns.topology':
      'per side: one standard topic per destination, one SQS queue per group subscribed with RawMessageDelivery (Causeway adds its dead-letter queue), consumed as in the SQS case',
  };
}

/** A queue subscribed to a topic, with the policy AWS needs (moto does not check it). */
async function subscribedQueue(sns: SNSClient, sqs: SQSClient, topicArn: string, name: string) {
  const url = await createQueue(sqs, name);
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }),
  );
  const queueArn = Attributes!['QueueArn']!;
  const policy = {
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Principal: { Service: 'sns.amazonaws.com' },
        Action: 'sqs:SendMessage',
        Resource: queueArn,
        Condition: { ArnEquals: { 'aws:SourceArn': topicArn } },
      },
    ],
  };
  await sqs.send(
    new SetQueueAttributesCommand({
      QueueUrl: url,
      Attributes: { Policy: JSON.stringify(policy) },
    }),
  );
  await sns.send(
    new SubscribeCommand({
      TopicArn: topicArn,
      Protocol: 'sqs',
      Endpoint: queueArn,
      Attributes: { RawMessageDelivery: 'true' },
    }),
  );
  return url;
}

export function snsBaseline(endpoint: string): TransportEntrant {
  return {
    label: '@aws-sdk/client-sns + client-sqs',
    open: async () => {
      const config = awsClientConfig(endpoint);
      const [sns, sqs] = [new SNSClient(config), new SQSClient(config)];
      const prefix = uniqueName('bench-raw');
      const topic = async (name: string) =>
        (await sns.send(new CreateTopicCommand({ Name: `${prefix}-${name}` }))).TopicArn!;
      const [publishTopic, e2eTopic] = await Promise.all([topic('publish'), topic('e2e')]);
      const queues = await Promise.all([
        subscribedQueue(sns, sqs, publishTopic, `${prefix}-publish-bench`),
        subscribedQueue(sns, sqs, e2eTopic, `${prefix}-e2e-bench`),
      ]);
      return rawQueueContestant(sqs, {
        publishOne: async (body) =>
          void (await sns.send(
            new PublishCommand({
              TopicArn: publishTopic,
              Message: JSON.stringify(body),
              MessageAttributes: attributes(),
            }),
          )),
        publishBatch: (bodies, e2e) =>
          inBatches(bodies, (chunk) =>
            sns.send(
              new PublishBatchCommand({
                TopicArn: e2e ? e2eTopic : publishTopic,
                PublishBatchRequestEntries: chunk.map((body, i) => ({
                  Id: String(i),
                  Message: JSON.stringify(body),
                  MessageAttributes: attributes(),
                })),
              }),
            ),
          ),
        e2eQueueUrl: queues[1],
        close: async () => {
          for (const TopicArn of [publishTopic, e2eTopic])
            await sns.send(new DeleteTopicCommand({ TopicArn }));
          for (const QueueUrl of queues) await sqs.send(new DeleteQueueCommand({ QueueUrl }));
          sns.destroy();
        },
      });
    },
  };
}

export const snsCauseway = (endpoint: string) => queueDriverCauseway('sns', endpoint);
