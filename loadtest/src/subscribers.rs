//! The `stream` scenario's subscribers: every board stream followed from one thread, on
//! one event loop (a current-thread tokio runtime and hyper's client).
//!
//! Why one thread: the subscribers share the server's two cores, and a real server's
//! subscribers are elsewhere. With a thread each, 1,000 subscribers were 1,000 threads, and
//! every delivery woke one of them; an event loop takes what is ready in one wake-up, as a
//! browser's network process would. Measured with `perf -a` during the scenario, the load
//! generator's share of the machine stayed about a third either way (31-33 %, most of it
//! the 32 bump clients); this thread's own share was 7 %.

use std::time::Instant;

use anyhow::Context;
use futures_util::future::join_all;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;

use crate::{focused_at_ms, histogram, now_ms, Delivered};

type HttpClient = Client<HttpConnector, Empty<Bytes>>;

/// Follows the board stream of each of `boards` (one stream per entry) until `deadline`;
/// what they saw, and the delivery latencies (µs) of their `item.focused` events.
pub(crate) fn follow_all(
    url: &str,
    auth: &str,
    boards: &[u64],
    deadline: Instant,
) -> anyhow::Result<(Delivered, Histogram<u64>)> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("the subscribers' runtime")?;
    rt.block_on(async {
        let client: HttpClient = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(0)
            .build_http();
        let streams = boards
            .iter()
            .map(|&b| follow(&client, url, auth, b, deadline));
        let mut all = Delivered::default();
        let mut hist = histogram();
        for (d, h) in join_all(streams).await {
            all.events += d.events;
            all.resyncs += d.resyncs;
            all.ended += d.ended;
            let _ = hist.add(&h);
        }
        Ok((all, hist))
    })
}

/// One board stream until `deadline`.
async fn follow(
    client: &HttpClient,
    url: &str,
    auth: &str,
    board: u64,
    deadline: Instant,
) -> (Delivered, Histogram<u64>) {
    let mut out = Delivered::default();
    let mut hist = histogram();
    let until = tokio::time::Instant::from_std(deadline);
    let req = hyper::Request::get(format!("{url}/v1/boards/{board}/stream"))
        .header("Authorization", auth)
        .header("Accept", "text/event-stream")
        .body(Empty::new());
    let Ok(req) = req else {
        out.ended += 1;
        return (out, hist);
    };
    let Ok(Ok(resp)) = tokio::time::timeout_at(until, client.request(req)).await else {
        out.ended += 1;
        return (out, hist);
    };
    if !resp.status().is_success() {
        out.ended += 1;
        return (out, hist);
    }
    let mut body = resp.into_body();
    let mut lines = Lines::default();
    loop {
        let frame = match tokio::time::timeout_at(until, body.frame()).await {
            // The deadline: the scenario is over.
            Err(_) => break,
            Ok(Some(Ok(f))) => f,
            Ok(None | Some(Err(_))) => {
                out.ended += 1;
                break;
            }
        };
        let Some(data) = frame.data_ref() else {
            continue;
        };
        lines.feed(data, |event, data| {
            if event == "resync" {
                out.resyncs += 1;
            } else if event == "item.focused" {
                out.events += 1;
                if let Some(at) = focused_at_ms(data) {
                    let us = u64::try_from((now_ms() - at).max(0)).unwrap_or(0) * 1000;
                    let _ = hist.record(us.max(1));
                }
            }
        });
    }
    (out, hist)
}

/// An SSE parser: whole lines from the body's pieces, and for each `data:` line the
/// event name it belongs to.
#[derive(Default)]
struct Lines {
    line: Vec<u8>,
    event: String,
}

impl Lines {
    fn feed(&mut self, bytes: &[u8], mut on_data: impl FnMut(&str, &str)) {
        for piece in bytes.split_inclusive(|&b| b == b'\n') {
            self.line.extend_from_slice(piece);
            if self.line.last() != Some(&b'\n') {
                continue;
            }
            let text = String::from_utf8_lossy(&self.line);
            let l = text.trim_end();
            if l.is_empty() {
                self.event.clear();
            } else if let Some(name) = l.strip_prefix("event: ") {
                self.event.clear();
                self.event.push_str(name);
                if name == "resync" {
                    on_data("resync", "");
                }
            } else if let Some(data) = l.strip_prefix("data: ") {
                if self.event != "resync" {
                    on_data(&self.event, data);
                }
            }
            self.line.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Lines;

    #[test]
    fn events_split_across_pieces_are_read_whole() {
        let stream = b"id: 7\nevent: item.focused\ndata: {\"a\":1}\n\nevent: resync\ndata: {}\n\n";
        for cut in 0..stream.len() {
            let mut lines = Lines::default();
            let mut seen = Vec::new();
            for piece in [&stream[..cut], &stream[cut..]] {
                lines.feed(piece, |e, d| seen.push((e.to_string(), d.to_string())));
            }
            assert_eq!(
                seen,
                vec![
                    ("item.focused".to_string(), "{\"a\":1}".to_string()),
                    ("resync".to_string(), String::new()),
                ],
                "cut at {cut}"
            );
        }
    }
}
