/**
 * The envelope every event, command and message carries: CloudEvents 1.0 attributes plus the
 * extensions Causeway uses for tracing and ordering. Names follow the CloudEvents spec
 * (lower-case, no separators) so the envelope maps 1:1 onto every protocol binding.
 */
export interface CloudEventAttributes {
  /** Unique per event; a UUIDv7 unless the producer supplied its own. */
  id: string;
  /** Who produced the event, as a URI reference (e.g. `/orders-service`). */
  source: string;
  type: string;
  specversion: '1.0';
  time: Date;
  subject?: string;
  datacontenttype: string;
  /** The request or business flow this event belongs to. */
  correlationid?: string;
  /** The id of the command or event that directly caused this one. */
  causationid?: string;
  /** W3C trace context, so traces continue across the store and brokers. */
  traceparent?: string;
  /** Messages with the same partition key are handled in order. */
  partitionkey?: string;
}

export interface CloudEvent<T = unknown> extends CloudEventAttributes {
  data: T;
}

/** The extension attributes that are optional on input and copied through unchanged. */
export const EXTENSION_ATTRIBUTES = [
  'correlationid',
  'causationid',
  'traceparent',
  'partitionkey',
] as const;
export type ExtensionAttribute = (typeof EXTENSION_ATTRIBUTES)[number];

export const DEFAULT_CONTENT_TYPE = 'application/json';
export const DEFAULT_SOURCE = 'causeway';
