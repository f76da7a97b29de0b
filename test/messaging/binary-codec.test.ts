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
