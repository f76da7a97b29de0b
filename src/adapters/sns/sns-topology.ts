import {
  CreateTopicCommand,
  ListSubscriptionsByTopicCommand,
  SetSubscriptionAttributesCommand,
  SubscribeCommand,
  type SNSClient,
} from '@aws-sdk/client-sns';
import { SetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { describe, SqsTopologyError, sqsToken } from '../sqs/sqs-topology.js';

/** SNS topic names: up to 256 letters, digits, `-` and `_` (plus `.fifo`). */
const TOPIC_BUDGET = 200;

/** One topic per destination: `<prefix>_<destination>[.fifo]`. */
export function topicName(prefix: string, destination: string, fifo: boolean): string {
  return `${prefix}_${sqsToken(destination, TOPIC_BUDGET)}${fifo ? '.fifo' : ''}`;
}

/** Creates the topic, or returns the existing one (`CreateTopic` is idempotent). */
export async function ensureTopic(
  client: SNSClient,
  name: string,
  fifo: boolean,
  extra: Readonly<Record<string, string>>,
): Promise<string> {
  try {
    const { TopicArn } = await client.send(
      new CreateTopicCommand({
        Name: name,
        Attributes: {
          ...extra,
          ...(fifo ? { FifoTopic: 'true', ContentBasedDeduplication: 'false' } : {}),
        },
      }),
    );
    if (!TopicArn) throw new Error('CreateTopic returned no topic ARN');
    return TopicArn;
  } catch (cause) {
    throw new SqsTopologyError(name, `Cannot create SNS topic "${name}": ${describe(cause)}`, {
      cause,
    });
  }
}

export interface QueueSubscription {
  topicArn: string;
  queueUrl: string;
  queueArn: string;
  /** Only these `ce-type`s reach the queue; `undefined` lets every message through. */
  types: readonly string[] | undefined;
}

/**
 * Lets the topic (and only it) send to the queue, then subscribes the queue with raw message
 * delivery — the SNS message attributes become the SQS message's attributes, the body stays the
 * body, so the SQS consumer reads the same CloudEvent — and, when types are given, a filter
 * policy on `ce-type`, so other types never reach the queue. An existing subscription with
 * other attributes is brought to these.
 */
export async function subscribeQueue(
  sns: SNSClient,
  sqs: SQSClient,
  subscription: QueueSubscription,
): Promise<string> {
  const { topicArn, queueUrl, queueArn, types } = subscription;
  try {
    await sqs.send(
      new SetQueueAttributesCommand({
        QueueUrl: queueUrl,
        Attributes: { Policy: JSON.stringify(queuePolicy(topicArn, queueArn)) },
      }),
    );
  } catch (cause) {
    throw new SqsTopologyError(
      queueArn,
      `Cannot let SNS topic ${topicArn} send to queue ${queueArn}: ${describe(cause)}`,
      { cause },
    );
  }
  const attributes: Record<string, string> = {
    RawMessageDelivery: 'true',
    ...(types === undefined
      ? {}
      : {
          FilterPolicyScope: 'MessageAttributes',
          FilterPolicy: JSON.stringify({ 'ce-type': [...types] }),
        }),
  };
  try {
    const { SubscriptionArn } = await sns.send(
      new SubscribeCommand({
        TopicArn: topicArn,
        Protocol: 'sqs',
        Endpoint: queueArn,
        Attributes: attributes,
        ReturnSubscriptionArn: true,
      }),
    );
    return SubscriptionArn!;
  } catch (cause) {
    if (!describe(cause).includes('already exists'))
      throw new SqsTopologyError(
        queueArn,
        `Cannot subscribe queue ${queueArn} to SNS topic ${topicArn}: ${describe(cause)}`,
        { cause },
      );
  }
  // SNS refuses to subscribe an endpoint again with other attributes: update the existing one.
  const existing = await findSubscription(sns, topicArn, queueArn);
  if (!existing)
    throw new SqsTopologyError(queueArn, `SNS subscription of ${queueArn} to ${topicArn} vanished`);
  for (const [AttributeName, AttributeValue] of Object.entries(attributes))
    await sns.send(
      new SetSubscriptionAttributesCommand({
        SubscriptionArn: existing,
        AttributeName,
        AttributeValue,
      }),
    );
  return existing;
}

async function findSubscription(
  sns: SNSClient,
  topicArn: string,
  endpoint: string,
): Promise<string | undefined> {
  let NextToken: string | undefined;
  do {
    const page = await sns.send(
      new ListSubscriptionsByTopicCommand({ TopicArn: topicArn, NextToken }),
    );
    const found = page.Subscriptions?.find((s) => s.Endpoint === endpoint && s.Protocol === 'sqs');
    if (found?.SubscriptionArn) return found.SubscriptionArn;
    NextToken = page.NextToken;
  } while (NextToken);
  return undefined;
}

/** The queue policy real AWS needs before SNS may deliver: only this topic may send. */
function queuePolicy(topicArn: string, queueArn: string) {
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'causeway-sns-delivery',
        Effect: 'Allow',
        Principal: { Service: 'sns.amazonaws.com' },
        Action: 'sqs:SendMessage',
        Resource: queueArn,
        Condition: { ArnEquals: { 'aws:SourceArn': topicArn } },
      },
    ],
  };
}
