// The event log reader moved to lib/adapters/cosmos/eventLog.ts; this path is kept for its importers.
export { readEventLog } from './cosmos/eventLog';
