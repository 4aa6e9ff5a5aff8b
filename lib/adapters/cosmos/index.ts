/**
 * The Cosmos DB adapters: client.ts (containers, start-up checks, shared request patterns),
 * meetingStore.ts (the write side), stateStore.ts (processor state, pages), eventLog.ts (a
 * meeting's events in commit order), presenceStore.ts (presence documents). The interfaces they
 * implement and their error types are in lib/ports.ts; the document shapes in lib/documents.ts.
 * Both are re-exported here so `from '…/adapters/cosmos'` keeps working.
 */
export {
  createCosmosContainers,
  ensureCosmosResources,
  isStatus,
  verifyCosmosResources,
  type CosmosContainers,
} from './client';
export { CosmosMeetingStore } from './meetingStore';
export { CosmosPageSource, CosmosStateStore, queryPagesAfter } from './stateStore';
export { readEventLog } from './eventLog';
export { CosmosPresenceStore } from './presenceStore';
export {
  IdConflictError,
  StaleStateError,
  type ActiveMeetings,
  type InsertOutcome,
  type MeetingStatus,
  type MeetingStore,
  type ParticipantChange,
  type StateStore,
  type StoredState,
} from '../../ports';
export {
  pollDocId,
  sameEvent,
  type PollDocument,
  type StoredMeeting,
  type StoredParticipant,
} from '../../documents';
