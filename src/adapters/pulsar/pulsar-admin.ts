import { StoreUnavailableError, TransportSetupError } from '../../core/errors.js';

/** Pulsar refused a topic, subscription or connection as configured; `cause` is its answer. */
export class PulsarTopologyError extends TransportSetupError {}

/** A message as the admin API's peek returns it. */
export interface PeekedMessage {
  /** `ledgerId:entryId`. */
  entry: string;
  body: string;
  properties: Record<string, string>;
  publishTime: Date;
}

/**
 * The few admin REST calls the transport needs (topic listing, subscriptions, peek, delete),
 * over `fetch`: the WebSocket API has no way to create a subscription at the earliest message
 * or to look at a backlog without consuming it.
 */
export class PulsarAdmin {
  constructor(
    /** The web service URL, `http://host:8080`. */
    readonly url: string,
    private readonly tenant: string,
    private readonly namespace: string,
  ) {}

  topicPath(topic: string): string {
    return `persistent/${this.tenant}/${this.namespace}/${encodeURIComponent(topic)}`;
  }

  /** Local names of the namespace's persistent topics. */
  async listTopics(): Promise<string[]> {
    const prefix = `persistent://${this.tenant}/${this.namespace}/`;
    const response = await this.#call('GET', `persistent/${this.tenant}/${this.namespace}`);
    const names = (await response.json()) as string[];
    return names.filter((n) => n.startsWith(prefix)).map((n) => n.slice(prefix.length));
  }

  /**
   * Creates a durable subscription at the topic's first message (creating the topic too);
   * an existing one is left as it is.
   */
  async ensureSubscription(topic: string, subscription: string): Promise<void> {
    const earliest = JSON.stringify({ ledgerId: -1, entryId: -1, partitionIndex: -1 });
    await this.#call(
      'PUT',
      `${this.topicPath(topic)}/subscription/${encodeURIComponent(subscription)}`,
      { body: earliest, accept: [409] },
    );
  }

  /** The `position`-th message (1-based) a subscription has not acknowledged, if any. */
  async peek(
    topic: string,
    subscription: string,
    position: number,
  ): Promise<PeekedMessage | undefined> {
    const response = await this.#call(
      'GET',
      `${this.topicPath(topic)}/subscription/${encodeURIComponent(subscription)}/position/${position}`,
      { accept: [404] },
    );
    if (response.status === 404) return undefined;
    const header = (name: string) => response.headers.get(name) ?? undefined;
    return {
      entry: header('x-pulsar-message-id') ?? '',
      body: Buffer.from(await response.arrayBuffer()).toString('utf8'),
      properties: JSON.parse(header('x-pulsar-property') ?? '{}') as Record<string, string>,
      publishTime: new Date(header('x-pulsar-publish-time') ?? 0),
    };
  }

  /** Deletes a topic with its subscriptions; a missing topic is not an error. */
  async deleteTopic(topic: string): Promise<void> {
    await this.#call('DELETE', `${this.topicPath(topic)}?force=true`, { accept: [404] });
  }

  async #call(
    method: string,
    path: string,
    options: { body?: string; accept?: number[] } = {},
  ): Promise<Response> {
    const target = `${this.url}/admin/v2/${path}`;
    let response: Response;
    try {
      response = await fetch(target, {
        method,
        ...(options.body === undefined
          ? {}
          : { body: options.body, headers: { 'content-type': 'application/json' } }),
        signal: AbortSignal.timeout(30_000),
      });
    } catch (cause) {
      throw new StoreUnavailableError(this.url, { cause });
    }
    if (response.ok || options.accept?.includes(response.status)) return response;
    const text = await response.text().catch(() => '');
    throw new PulsarTopologyError(
      path,
      `Pulsar admin ${method} ${path} answered ${response.status}: ${text.slice(0, 300)}`,
    );
  }
}
