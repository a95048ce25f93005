//! A small process-wide metrics registry rendered in the Prometheus text format (version
//! 0.0.4): counters and histograms with labels, kept in atomics (R-OPS-5).
//!
//! It is here, in the crate every other depends on, so the pipeline, the login check and the
//! queue can count without depending on the web server that serves `GET /metrics`. It is the
//! one piece of process state in `core`; it does no I/O and reads no clock (callers pass the
//! durations they measured).
//!
//! Keeps true:
//! - Recording never blocks on I/O and never fails: a counter is an atomic add after one short
//!   map lookup under a mutex.
//! - Label values are escaped for the text format (`\\`, `"`, newline), so no value can break
//!   the output.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// Upper bounds of the duration histogram buckets, in seconds (100 µs … 10 s).
pub const BUCKETS: [f64; 12] = [
    0.0001, 0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 2.5, 10.0,
];

/// A labelled series: sorted `(name, value)` pairs.
type Labels = Vec<(&'static str, String)>;

#[derive(Default)]
struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    /// The sum in microseconds (integer, so it can be an atomic).
    sum_us: AtomicU64,
}

#[derive(Default)]
struct Family {
    help: &'static str,
    counters: BTreeMap<Labels, Arc<AtomicU64>>,
    histograms: BTreeMap<Labels, Arc<Histogram>>,
}

fn registry() -> &'static Mutex<BTreeMap<&'static str, Family>> {
    static REGISTRY: OnceLock<Mutex<BTreeMap<&'static str, Family>>> = OnceLock::new();
    REGISTRY.get_or_init(Default::default)
}

fn labels(pairs: &[(&'static str, &str)]) -> Labels {
    let mut labels: Labels = pairs.iter().map(|(k, v)| (*k, (*v).to_string())).collect();
    labels.sort();
    labels
}

fn with_family<T>(name: &'static str, help: &'static str, f: impl FnOnce(&mut Family) -> T) -> T {
    // Nothing under this lock can leave a family half-changed, so a poisoned lock is usable.
    let mut map = registry().lock().unwrap_or_else(|e| e.into_inner());
    let family = map.entry(name).or_default();
    family.help = help;
    f(family)
}

/// Adds `by` to the counter `name{labels}` (created at zero on first use). `name` should end
/// in `_total`.
pub fn count(name: &'static str, help: &'static str, pairs: &[(&'static str, &str)], by: u64) {
    let counter = with_family(name, help, |f| {
        f.counters.entry(labels(pairs)).or_default().clone()
    });
    counter.fetch_add(by, Ordering::Relaxed);
}

/// Records one duration (in microseconds) in the histogram `name{labels}`, whose unit is
/// seconds (`name` should end in `_seconds`).
pub fn observe_us(name: &'static str, help: &'static str, pairs: &[(&'static str, &str)], us: u64) {
    let histogram = with_family(name, help, |f| {
        f.histograms.entry(labels(pairs)).or_default().clone()
    });
    let seconds = us as f64 / 1e6;
    for (bound, bucket) in BUCKETS.iter().zip(&histogram.buckets) {
        if seconds <= *bound {
            bucket.fetch_add(1, Ordering::Relaxed);
        }
    }
    histogram.count.fetch_add(1, Ordering::Relaxed);
    histogram.sum_us.fetch_add(us, Ordering::Relaxed);
}

/// The value of a counter (0 when never counted); for tests and health pages.
pub fn counter_value(name: &'static str, pairs: &[(&'static str, &str)]) -> u64 {
    let map = registry().lock().unwrap_or_else(|e| e.into_inner());
    map.get(name)
        .and_then(|f| f.counters.get(&labels(pairs)))
        .map_or(0, |c| c.load(Ordering::Relaxed))
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn label_text(labels: &Labels, extra: Option<(&str, &str)>) -> String {
    let mut parts: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    if let Some((k, v)) = extra {
        parts.push(format!("{k}=\"{v}\""));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

/// Every registered series in the Prometheus text format.
pub fn render() -> String {
    let map = registry().lock().unwrap_or_else(|e| e.into_inner());
    let mut out = String::new();
    for (name, family) in map.iter() {
        let kind = if family.histograms.is_empty() {
            "counter"
        } else {
            "histogram"
        };
        let _ = writeln!(out, "# HELP {name} {}", family.help);
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for (labels, value) in &family.counters {
            let _ = writeln!(
                out,
                "{name}{} {}",
                label_text(labels, None),
                value.load(Ordering::Relaxed)
            );
        }
        for (labels, h) in &family.histograms {
            for (bound, bucket) in BUCKETS.iter().zip(&h.buckets) {
                let le = bound.to_string();
                let _ = writeln!(
                    out,
                    "{name}_bucket{} {}",
                    label_text(labels, Some(("le", &le))),
                    bucket.load(Ordering::Relaxed)
                );
            }
            let count = h.count.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "{name}_bucket{} {count}",
                label_text(labels, Some(("le", "+Inf")))
            );
            let _ = writeln!(
                out,
                "{name}_sum{} {}",
                label_text(labels, None),
                h.sum_us.load(Ordering::Relaxed) as f64 / 1e6
            );
            let _ = writeln!(out, "{name}_count{} {count}", label_text(labels, None));
        }
    }
    out
}

/// One gauge line set, for values read at scrape time (the queue size).
pub fn render_gauge(name: &str, help: &str, series: &[(&[(&str, &str)], u64)]) -> String {
    let mut out = format!("# HELP {name} {help}\n# TYPE {name} gauge\n");
    for (pairs, value) in series {
        let labels: Vec<String> = pairs
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
            .collect();
        if labels.is_empty() {
            let _ = writeln!(out, "{name} {value}");
        } else {
            let _ = writeln!(out, "{name}{{{}}} {value}", labels.join(","));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_histograms_render_in_text_format() {
        count(
            "congvu_test_things_total",
            "Things.",
            &[("kind", "a\"b")],
            2,
        );
        count(
            "congvu_test_things_total",
            "Things.",
            &[("kind", "a\"b")],
            1,
        );
        assert_eq!(
            counter_value("congvu_test_things_total", &[("kind", "a\"b")]),
            3
        );
        observe_us("congvu_test_seconds", "Time.", &[("check", "x")], 700);
        observe_us("congvu_test_seconds", "Time.", &[("check", "x")], 3_000_000);
        let text = render();
        assert!(text.contains("# TYPE congvu_test_things_total counter\n"));
        assert!(text.contains("congvu_test_things_total{kind=\"a\\\"b\"} 3\n"));
        assert!(text.contains("# TYPE congvu_test_seconds histogram\n"));
        assert!(text.contains("congvu_test_seconds_bucket{check=\"x\",le=\"0.0005\"} 0\n"));
        assert!(text.contains("congvu_test_seconds_bucket{check=\"x\",le=\"0.001\"} 1\n"));
        assert!(text.contains("congvu_test_seconds_bucket{check=\"x\",le=\"+Inf\"} 2\n"));
        assert!(text.contains("congvu_test_seconds_sum{check=\"x\"} 3.0007\n"));
        assert!(text.contains("congvu_test_seconds_count{check=\"x\"} 2\n"));
    }

    #[test]
    fn gauges_render() {
        let text = render_gauge("congvu_q", "Q.", &[(&[("state", "held")], 4)]);
        assert_eq!(
            text,
            "# HELP congvu_q Q.\n# TYPE congvu_q gauge\ncongvu_q{state=\"held\"} 4\n"
        );
    }
}
