//! The optional Prometheus endpoint (`prometheus` feature): a recorder from
//! `metrics-exporter-prometheus`, and an axum route that serves its text.

use std::time::Duration;

use axum::http::header;
use axum::routing::{MethodRouter, get};
pub use metrics_exporter_prometheus::{BuildError, PrometheusHandle};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};

/// Histogram buckets (seconds) for the `_seconds` metrics: from 50 µs (a local emit) to 5 s
/// (a Redis that is about to time out).
const BUCKETS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0,
];

/// Buckets of `tether_redis_publish_batch_size`: emits per pipeline, up to the most one
/// carries (256).
const BATCH_SIZES: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

/// How often histograms are compacted (the exporter leaves it to the caller).
const UPKEEP: Duration = Duration::from_secs(5);

/// Installs a Prometheus recorder as the process's metrics recorder, with tether's metrics
/// described and bucketed, and returns the handle [`prometheus_route`] serves. Call it once,
/// before building the tether.
///
/// # Errors
/// When a recorder is already installed.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let handle = tether::metrics::install_prometheus().expect("the first recorder");
/// let app: axum::Router = axum::Router::new()
///     .route("/metrics", tether::metrics::prometheus_route(handle.clone()));
/// # let _ = app;
/// # }
/// ```
pub fn install_prometheus() -> Result<PrometheusHandle, BuildError> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), BUCKETS)?
        .set_buckets_for_metric(
            Matcher::Full(super::REDIS_PUBLISH_BATCH.to_owned()),
            BATCH_SIZES,
        )?
        .install_recorder()?;
    super::describe();
    let upkeep = handle.clone();
    std::thread::Builder::new()
        .name("tether-metrics-upkeep".to_owned())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP);
                upkeep.run_upkeep();
            }
        })
        .map_err(|e| BuildError::FailedToCreateRuntime(e.to_string()))?;
    Ok(handle)
}

/// A `GET` route that answers the metrics in Prometheus's text format
/// (`text/plain; version=0.0.4`).
pub fn prometheus_route<S: Clone + Send + Sync + 'static>(
    handle: PrometheusHandle,
) -> MethodRouter<S> {
    get(move || {
        let handle = handle.clone();
        async move {
            (
                [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                handle.render(),
            )
        }
    })
}
