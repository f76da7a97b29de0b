import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  decodeBinary,
  encodeBinary,
  runWithContext,
  SerializationError,
  toMessage,
} from 'causeway';

describe('CloudEvents binary codec', () => {
  it('round-trips every attribute, extension and JSON body', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.string({ minLength: 1, maxLength: 30 }), (data, subject) => {
        const message = toMessage({
          type: 'T',
          data,
          subject,
          partitionkey: 'k',
          extensions: { tenant: 'a1' },
        });
        const decoded = decodeBinary(encodeBinary(message, 'ce_'), 'ce_');
        expect(decoded).toEqual({ ...message, data: JSON.parse(JSON.stringify(data)) });
      }),
    );
  });

  it('takes correlation and causation from the message being handled', () => {
    const message = runWithContext({ messageId: 'cmd-1', correlationId: 'flow-1' }, () =>
      toMessage({ type: 'T', data: 1 }),
    );
    expect(message).toMatchObject({ correlationid: 'flow-1', causationid: 'cmd-1' });
  });

  it('reads extensions by prefix only: attributes stay attributes, foreign headers are left out', () => {
    const wire = encodeBinary(
      toMessage({
        type: 'T',
        data: 1,
        subject: 's',
        partitionkey: 'k',
        extensions: { tenant: 'a1' },
      }),
      'ce_',
    );
    wire.headers['x-trace'] = 'foreign';
    wire.headers['ce-other'] = 'another prefix';
    const decoded = decodeBinary(wire, 'ce_');
    expect(decoded.extensions).toEqual({ tenant: 'a1' });
    expect(decoded).toMatchObject({ subject: 's', partitionkey: 'k' });
    // The same headers under another prefix are not this prefix's attributes.
    expect(() => decodeBinary(wire, 'ce-')).toThrow(/missing ce-specversion, ce-id/);
  });

  it('names only the attributes that are missing', () => {
    const { headers, body } = encodeBinary(toMessage({ type: 'T', data: {} }), 'ce-');
    const { 'ce-source': _source, 'ce-time': _time, ...rest } = headers;
    expect(() => decodeBinary({ headers: rest, body }, 'ce-')).toThrow(
      /^Not a CloudEvent: missing ce-source, ce-time$/,
    );
  });

  it('names what is missing or malformed', () => {
    expect(() => decodeBinary({ headers: {}, body: '{}' }, 'ce-')).toThrow(
      /missing ce-specversion, ce-id, ce-source, ce-type, ce-time/,
    );
    const wire = encodeBinary(toMessage({ type: 'T', data: {} }), 'ce-');
    expect(() => decodeBinary({ ...wire, body: '{oops' }, 'ce-')).toThrow(SerializationError);
    expect(() => toMessage({ type: 'T', data: {}, extensions: { 'Bad-Name': 'x' } })).toThrow(
      /extensions/,
    );
  });
});
