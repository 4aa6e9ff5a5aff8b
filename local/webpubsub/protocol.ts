/**
 * Wire formats of the Web PubSub client protocols: `json.webpubsub.azure.v1`, its reliable variant
 * (adds per-connection `sequenceId`s) and "simple" WebSocket clients (no subprotocol: raw frames).
 */

export const JSON_PROTOCOL = 'json.webpubsub.azure.v1';
export const RELIABLE_JSON_PROTOCOL = 'json.reliable.webpubsub.azure.v1';

export type ClientProtocol = 'simple' | 'json' | 'reliable';
export type DataType = 'json' | 'text' | 'binary';

export function protocolOf(subprotocol: string | undefined): ClientProtocol | undefined {
  if (subprotocol === undefined || subprotocol === '') return 'simple';
  if (subprotocol === RELIABLE_JSON_PROTOCOL) return 'reliable';
  if (subprotocol === JSON_PROTOCOL) return 'json';
  return undefined;
}

/** Picks the subprotocol to echo from the client's offer (first supported one wins). */
export function chooseSubprotocol(offered: Iterable<string>): string | false {
  for (const p of offered) {
    if (p === RELIABLE_JSON_PROTOCOL || p === JSON_PROTOCOL) return p;
  }
  return false;
}

/**
 * One message to many connections. The JSON envelope is serialized once per send; reliable
 * recipients only get their `sequenceId` spliced onto a shared prefix, so fan-out never re-encodes
 * the payload.
 */
export class OutMessage {
  private plainFrame: Buffer | undefined;
  private reliablePrefix: Buffer | undefined;
  private rawFrame: Buffer | undefined;

  private constructor(
    /** Envelope up to and including the `data` value, without the closing brace. */
    private readonly head: string,
    readonly dataType: DataType,
    /** The payload as simple WebSocket clients receive it (decoded lazily). */
    private readonly rawSource: () => Buffer,
    /** Approximate bytes held while buffered for redelivery. */
    readonly size: number,
  ) {}

  /**
   * @param dataJson the `data` field already as JSON text (a JSON document, a JSON string for text,
   *   or a base64 JSON string for binary)
   */
  static create(
    source: { from: 'server' } | { from: 'group'; group: string; fromUserId: string | undefined },
    dataType: DataType,
    dataJson: string,
    raw: () => Buffer,
  ): OutMessage {
    let head = '{"type":"message","from":"' + source.from + '"';
    if (source.from === 'group') {
      head += ',"group":' + JSON.stringify(source.group);
      if (source.fromUserId !== undefined) head += ',"fromUserId":' + JSON.stringify(source.fromUserId);
    }
    head += ',"dataType":"' + dataType + '","data":' + dataJson;
    return new OutMessage(head, dataType, raw, head.length + 64);
  }

  /** Frame for `json.webpubsub.azure.v1` (no sequence id): identical bytes for every recipient. */
  plain(): Buffer {
    return (this.plainFrame ??= Buffer.from(this.head + '}', 'utf8'));
  }

  /** Frame for the reliable protocol with this recipient's sequence id. */
  reliable(sequenceId: number): Buffer {
    const prefix = (this.reliablePrefix ??= Buffer.from(this.head + ',"sequenceId":', 'utf8'));
    const tail = sequenceId + '}';
    const frame = Buffer.allocUnsafe(prefix.length + tail.length);
    prefix.copy(frame, 0);
    frame.write(tail, prefix.length, 'latin1');
    return frame;
  }

  /** Payload for simple WebSocket clients: text frame unless binary. */
  raw(): Buffer {
    return (this.rawFrame ??= this.rawSource());
  }
}

export function connectedFrame(
  connectionId: string,
  userId: string | undefined,
  reconnectionToken?: string,
): string {
  return JSON.stringify({ type: 'system', event: 'connected', userId, connectionId, reconnectionToken });
}

export function disconnectedFrame(message: string): string {
  return JSON.stringify({ type: 'system', event: 'disconnected', message });
}

export type AckErrorName = 'Forbidden' | 'Duplicate' | 'BadRequest' | 'InternalServerError';

export function ackFrame(ackId: unknown, error?: { name: AckErrorName; message: string }): string {
  return error === undefined
    ? '{"type":"ack","ackId":' + JSON.stringify(ackId) + ',"success":true}'
    : JSON.stringify({ type: 'ack', ackId, success: false, error });
}

export const PONG_FRAME = '{"type":"pong"}';

/** Client → service messages of the JSON protocols, after shape validation. */
export type ClientMessage =
  | { type: 'joinGroup' | 'leaveGroup'; group: string; ackId?: AckId }
  | { type: 'sendToGroup'; group: string; ackId?: AckId; noEcho: boolean; dataType: DataType; data: unknown }
  | { type: 'event'; event: string; ackId?: AckId; dataType: DataType; data: unknown }
  | { type: 'sequenceAck'; sequenceId: number }
  | { type: 'ping' }
  | { type: 'invoke'; invocationId: string }
  | { type: 'unsupported'; name: string; ackId?: AckId };

export type AckId = number | string;

export type ParseResult = { ok: true; message: ClientMessage } | { ok: false; ackId?: AckId; reason: string };

export function parseClientMessage(text: string): ParseResult {
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'message is not valid JSON' };
  }
  if (typeof m !== 'object' || m === null || Array.isArray(m))
    return { ok: false, reason: 'message is not an object' };
  const o = m as Record<string, unknown>;
  const ackId = typeof o.ackId === 'number' || typeof o.ackId === 'string' ? o.ackId : undefined;
  const bad = (reason: string): ParseResult => ({ ok: false, ackId, reason });
  switch (o.type) {
    case 'joinGroup':
    case 'leaveGroup':
      if (!isGroupName(o.group)) return bad('invalid group name');
      return { ok: true, message: { type: o.type, group: o.group, ackId } };
    case 'sendToGroup': {
      if (!isGroupName(o.group)) return bad('invalid group name');
      const dataType = o.dataType ?? 'json';
      if (!isDataType(dataType)) return bad('unsupported dataType');
      if (!payloadMatches(dataType, o.data)) return bad('data does not match dataType');
      return {
        ok: true,
        message: {
          type: 'sendToGroup',
          group: o.group,
          ackId,
          noEcho: o.noEcho === true,
          dataType,
          data: o.data,
        },
      };
    }
    case 'event': {
      if (typeof o.event !== 'string' || o.event === '') return bad('invalid event name');
      const dataType = o.dataType ?? 'json';
      if (!isDataType(dataType)) return bad('unsupported dataType');
      if (!payloadMatches(dataType, o.data)) return bad('data does not match dataType');
      return { ok: true, message: { type: 'event', event: o.event, ackId, dataType, data: o.data } };
    }
    case 'sequenceAck':
      if (typeof o.sequenceId !== 'number' || !Number.isFinite(o.sequenceId))
        return bad('invalid sequenceId');
      return { ok: true, message: { type: 'sequenceAck', sequenceId: o.sequenceId } };
    case 'ping':
      return { ok: true, message: { type: 'ping' } };
    case 'invoke':
      if (typeof o.invocationId !== 'string') return bad('invalid invocationId');
      return { ok: true, message: { type: 'invoke', invocationId: o.invocationId } };
    default:
      return { ok: true, message: { type: 'unsupported', name: String(o.type), ackId } };
  }
}

export function isGroupName(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= 1024 && value.trim() !== '';
}

function isDataType(value: unknown): value is DataType {
  return value === 'json' || value === 'text' || value === 'binary';
}

function payloadMatches(dataType: DataType, data: unknown): boolean {
  if (dataType === 'json') return data !== undefined;
  return typeof data === 'string';
}

/** Serializes client-provided data for an envelope, and its raw form for simple clients. */
export function encodeClientData(dataType: DataType, data: unknown): { json: string; raw: () => Buffer } {
  if (dataType === 'json') {
    const json = JSON.stringify(data);
    return { json, raw: () => Buffer.from(json, 'utf8') };
  }
  // text is a string; binary is already base64 text on the JSON wire.
  const text = data as string;
  return {
    json: JSON.stringify(text),
    raw: () => (dataType === 'binary' ? Buffer.from(text, 'base64') : Buffer.from(text, 'utf8')),
  };
}
