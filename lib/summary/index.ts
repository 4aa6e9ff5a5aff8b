/** End-of-meeting summary: JSON report plus SVG charts and an HTML page. */
export { buildSummary, SUMMARY_VERSION, type MeetingSummary, type SummaryMeta } from './summary';
export { escapeXml, renderSummaryHtml, renderSummarySvg } from './render';
