//! The edge core's CPU per 1,000-token streamed answer, natively, in the release profile the
//! Worker is built with (`scripts/bench` reports the same figures in its table):
//!
//!     CARGO_PROFILE_BENCH_PANIC=unwind cargo bench -p tests --bench edge_core
//!
//! Cargo builds bench targets with `panic = "unwind"` and this package's binaries with the
//! profile's `abort`; `edge` is a cdylib, whose files carry no hash, so without the variable it
//! would be built twice into the same files and the build fails at random.

#![allow(
    clippy::print_stdout,
    reason = "the figures on stdout are this program's output"
)]

use tests::bench::edge_core::{measure_codec, measure_pipeline, TOKENS};

fn main() -> anyhow::Result<()> {
    // `cargo bench` passes `--bench`; there are no other options.
    let codec = measure_codec(15, 40)?;
    println!(
        "edge_core/codec     {TOKENS} tokens: median {:>7.1} µs, best {:>7.1} µs ({} runs)",
        codec.p50_us, codec.min_us, codec.runs
    );
    let pipeline = measure_pipeline(15, 20)?;
    println!(
        "edge_core/pipeline  {TOKENS} tokens: median {:>7.1} µs, best {:>7.1} µs ({} runs)",
        pipeline.p50_us, pipeline.min_us, pipeline.runs
    );
    Ok(())
}
