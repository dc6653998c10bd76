/**
 * metrics — the member's Prometheus metrics: event counters and histograms fed by hooks, state gauges
 * read at scrape time. Imports only prom-client; the server wires it to the replica and the API.
 */
export { MemberMetrics, type MemberState } from './member-metrics.ts';
