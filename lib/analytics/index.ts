/** Streaming analytics: generic bounded operators and the meeting metrics built from them. */
export * as countWindow from './countWindow';
export * as quantiles from './quantiles';
export * as slidingWindow from './slidingWindow';
export * as tumblingWindow from './tumblingWindow';
export * from './meetingMetrics';
export { gini, hash53 } from './stats';
export { keywords, STOP_WORDS } from './text';
