/**
 * The wire protocol shared by the functions, the processor and clients: what participants send
 * (events.ts), what they receive (envelopes.ts) and what the service stores (documents.ts). It
 * imports nothing else, so the typed client can ship it without any server code.
 */
export * from './events';
export * from './envelopes';
export * from './documents';
