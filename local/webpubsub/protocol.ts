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

const OPCODE_TEXT = 0x1;
const OPCODE_BINARY = 0x2;

function wsHeaderLength(payloadLength: number): number {
  return payloadLength < 126 ? 2 : payloadLength < 65536 ? 4 : 10;
}

/** Writes an unmasked, final (FIN) WebSocket frame header; returns where the payload starts. */
function writeWsHeader(frame: Buffer, opcode: number, payloadLength: number): number {
  frame[0] = 0x80 | opcode;
  if (payloadLength < 126) {
    frame[1] = payloadLength;
    return 2;
  }
  if (payloadLength < 65536) {
    frame[1] = 126;
    frame.writeUInt16BE(payloadLength, 2);
    return 4;
  }
  frame[1] = 127;
  frame.writeUInt32BE(Math.floor(payloadLength / 2 ** 32), 2);
  frame.writeUInt32BE(payloadLength >>> 0, 6);
  return 10;
}

function wsFrame(opcode: number, payload: Buffer): Buffer {
  const frame = Buffer.allocUnsafe(wsHeaderLength(payload.length) + payload.length);
  payload.copy(frame, writeWsHeader(frame, opcode, payload.length));
  return frame;
}

/**
 * One message to many connections, as ready-made WebSocket frames. The JSON envelope is serialized
 * once per send; the `json` and simple-client frames are shared by every recipient, and reliable
 * recipients only get their `sequenceId` spliced onto a shared prefix. Fan-out never re-encodes the
 * payload.
 */
export class OutMessage {
  private plain: Buffer | undefined;
  private reliablePrefix: Buffer | undefined;
  private raw: Buffer | undefined;

  private constructor(
    /** Envelope up to and including the `data` value, without the closing brace. */
    private readonly head: string,
    readonly dataType: DataType,
    /** The payload as simple WebSocket clients receive it (decoded lazily). */
    private readonly rawSource: () => Buffer,
    /** Approximate bytes held while buffered for redelivery. */
    readonly size: number,
    /** The payload's bytes (JSON text, UTF-8 text or binary data): what billing counts (billing.ts). */
    readonly payloadBytes: number,
  ) {}

  /**
   * @param dataJson the `data` field already as JSON text (a JSON document, a JSON string for text,
   *   or a base64 JSON string for binary)
   * @param payloadBytes the payload's size as the sender gave it (see `payloadBytes`)
   */
  static create(
    source: { from: 'server' } | { from: 'group'; group: string; fromUserId: string | undefined },
    dataType: DataType,
    dataJson: string,
    raw: () => Buffer,
    payloadBytes: number,
  ): OutMessage {
    let head = '{"type":"message","from":"' + source.from + '"';
    if (source.from === 'group') {
      head += ',"group":' + JSON.stringify(source.group);
      if (source.fromUserId !== undefined) head += ',"fromUserId":' + JSON.stringify(source.fromUserId);
    }
    head += ',"dataType":"' + dataType + '","data":' + dataJson;
    return new OutMessage(head, dataType, raw, head.length + 64, payloadBytes);
  }

  /** `json.webpubsub.azure.v1` frame (no sequence id): the same bytes for every recipient. */
  plainFrame(): Buffer {
    return (this.plain ??= wsFrame(OPCODE_TEXT, Buffer.from(this.head + '}', 'utf8')));
  }

  /** Reliable-protocol frame carrying this recipient's sequence id. */
  reliableFrame(sequenceId: number): Buffer {
    const prefix = (this.reliablePrefix ??= Buffer.from(this.head + ',"sequenceId":', 'utf8'));
    const tail = sequenceId + '}';
    const payloadLength = prefix.length + tail.length;
    const frame = Buffer.allocUnsafe(wsHeaderLength(payloadLength) + payloadLength);
    const at = writeWsHeader(frame, OPCODE_TEXT, payloadLength);
    prefix.copy(frame, at);
    frame.write(tail, at + prefix.length, 'latin1');
    return frame;
  }

  /** Frame for simple WebSocket clients: the bare payload, text unless binary. */
  rawFrame(): Buffer {
    return (this.raw ??= wsFrame(this.dataType === 'binary' ? OPCODE_BINARY : OPCODE_TEXT, this.rawSource()));
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
export function encodeClientData(
  dataType: DataType,
  data: unknown,
): { json: string; raw: () => Buffer; bytes: number } {
  if (dataType === 'json') {
    const json = JSON.stringify(data);
    return { json, raw: () => Buffer.from(json, 'utf8'), bytes: Buffer.byteLength(json, 'utf8') };
  }
  // text is a string; binary is already base64 text on the JSON wire.
  const text = data as string;
  const binary = dataType === 'binary';
  return {
    json: JSON.stringify(text),
    raw: () => (binary ? Buffer.from(text, 'base64') : Buffer.from(text, 'utf8')),
    bytes: Buffer.byteLength(text, binary ? 'base64' : 'utf8'),
  };
}
