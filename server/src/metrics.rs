//! Prometheus metrics: requests by route and status, latency by route, and engine numbers
//! read at scrape time.

use crate::admission::Admission;
use std::time::Duration;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};

/// The server's metric families.
pub(crate) struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
}

impl Metrics {
    pub(crate) fn new() -> anyhow::Result<Metrics> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "hoist_http_requests_total",
                "HTTP requests by route, method and status",
            ),
            &["method", "route", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "hoist_http_request_duration_seconds",
                "HTTP request latency by route",
            )
            .buckets(vec![
                0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
                5.0,
            ]),
            &["method", "route"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        Ok(Metrics {
            registry,
            requests,
            latency,
        })
    }

    pub(crate) fn observe(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let mut buf = itoa_status(status);
        self.requests
            .with_label_values(&[method, route, buf.as_str()])
            .inc();
        self.latency
            .with_label_values(&[method, route])
            .observe(elapsed.as_secs_f64());
        buf.clear();
    }

    /// The text exposition, with the engine's gauges appended.
    pub(crate) fn render(
        &self,
        stats: &hoist_engine::Stats,
        admission: &Admission,
        streams: &crate::streams::Streams,
    ) -> String {
        let mut out = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        let mut text = String::from_utf8(out).unwrap_or_default();
        let families = [
            ("hoist_items", "Live items", stats.items),
            ("hoist_boards", "Boards", stats.boards),
            ("hoist_users", "Users", stats.users),
            (
                "hoist_write_queue_depth",
                "Commands waiting for the writer",
                stats.queue_depth,
            ),
            (
                "hoist_sled_disk_bytes",
                "Bytes sled occupies on disk",
                stats.disk_bytes,
            ),
            (
                "hoist_change_seq",
                "Sequence number of the last committed change",
                stats.last_seq,
            ),
            (
                "hoist_timers_pending",
                "Durable reminder and deadline timers armed",
                stats.timers_pending,
            ),
            (
                "hoist_timers_fired_total",
                "Timers fired since start",
                stats.timers_fired,
            ),
            (
                "hoist_events_ingested_total",
                "Gateway events accepted since start",
                stats.events_ingested,
            ),
            (
                "hoist_focus_fired_total",
                "Focus triggers applied since start",
                stats.focus_fired,
            ),
            (
                "hoist_queue_wait_microseconds",
                "How long the oldest command of the writer's last group waited (0 when idle)",
                stats.queue_wait_us,
            ),
            (
                "hoist_writes_in_flight",
                "Engine commands admitted and not yet answered",
                u64::try_from(admission.writes.in_use()).unwrap_or(u64::MAX),
            ),
            (
                "hoist_batch_elements_in_flight",
                "Elements of batches admitted and not yet answered",
                u64::try_from(admission.elements.in_use()).unwrap_or(u64::MAX),
            ),
            (
                "hoist_body_bytes_in_flight",
                "Request-body bytes held by requests in flight",
                u64::try_from(admission.body_bytes.in_use()).unwrap_or(u64::MAX),
            ),
            (
                "hoist_streams_open",
                "Live streams (SSE) open",
                u64::try_from(streams.open_count()).unwrap_or(u64::MAX),
            ),
            (
                "hoist_stream_resyncs_total",
                "Streams ended with resync (fell out of the change ring, or an old Last-Event-ID)",
                streams.resync_count(),
            ),
            (
                "hoist_writes_stopped",
                "1 once a storage failure has stopped the writes (fail-stop; restart to recover)",
                u64::from(stats.writes_stopped),
            ),
            (
                "hoist_checkpoint_upto",
                "Entries with a seq below this are in the newest checkpoint on disk (0: none)",
                stats.checkpoint_upto,
            ),
            (
                "hoist_opened_from_checkpoint",
                "The cut of the checkpoint this start resumed from (0: a full rebuild)",
                stats.opened_from_checkpoint,
            ),
            (
                "hoist_pack_cache_hits_total",
                "Reads of a compressed entry pack answered by the pack cache since start",
                stats.pack_cache_hits,
            ),
            (
                "hoist_pack_cache_misses_total",
                "Reads of a compressed entry pack that decompressed it since start",
                stats.pack_cache_misses,
            ),
            (
                "hoist_pack_cache_bytes",
                "Bytes of decompressed entry packs the pack cache holds (--pack-cache-mb bounds it)",
                stats.pack_cache_bytes,
            ),
            (
                "hoist_rollbacks_total",
                "Commands rolled back after they began to write (a bug when above 0)",
                stats.rollbacks,
            ),
        ];
        for (name, help, v) in families {
            let kind = if name.ends_with("_total") {
                "counter"
            } else {
                "gauge"
            };
            text.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}\n"
            ));
        }
        text
    }
}

fn itoa_status(s: u16) -> String {
    s.to_string()
}
