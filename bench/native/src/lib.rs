//! Only the benchmarks in `benches/` live here (`cargo bench -p edge-token-bench`).
