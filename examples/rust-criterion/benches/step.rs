//! The criterion 0.3 benchmark of `training_step`.
//!
//!     cargo bench --offline                          # criterion, short run
//!     iterprof record -f training_step -- BENCH --bench
//!
//! Environment, read once at start-up:
//! - ITERPROF_EXAMPLE_WORK=N: N times the work per call (default 1).
//! - ITERPROF_EXAMPLE_CALLS=N: no criterion; call `training_step` exactly N
//!   times, print `calls training_step N` and exit, so a test knows the
//!   count iterprof must record.
//!
//! The run is kept short: 10 samples, 0.5 s warm-up, 1 s measurement, 10 000
//! bootstrap resamples, no plots; about 2 s in all. Criterion's own flags
//! override that (`--sample-size`, `--nresamples`, `--noplot`), but
//! criterion 0.3's `--warm-up-time` and `--measurement-time` take whole
//! seconds only ("0.5" is refused, and the run exits 1).
use std::process;
use std::time::Duration;

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use iterprof_criterion_example::{training_step, State};

fn state_or_exit() -> State {
    State::from_env().unwrap_or_else(|e| {
        eprintln!("step: {}", e);
        process::exit(2);
    })
}

/// With ITERPROF_EXAMPLE_CALLS=N set: N calls, one line, exit; criterion
/// never starts. Listed first in criterion_main! so it runs before any
/// criterion group parses the command line.
fn fixed_calls() {
    let calls = match std::env::var("ITERPROF_EXAMPLE_CALLS") {
        Ok(s) => s.parse::<u64>().unwrap_or_else(|_| {
            eprintln!("step: ITERPROF_EXAMPLE_CALLS={}: expected a number of calls", s);
            process::exit(2);
        }),
        Err(_) => return,
    };
    let mut state = state_or_exit();
    for _ in 0..calls {
        black_box(training_step(black_box(&mut state)));
    }
    println!("calls training_step {}", state.steps);
    process::exit(0);
}

fn bench_training_step(c: &mut Criterion) {
    let mut state = state_or_exit();
    c.bench_function("training_step", |b| {
        b.iter(|| training_step(black_box(&mut state)))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(1))
        // Criterion's default 100 000 resamples take about 2 s of analysis
        // on 2 vCPUs, longer than the measurement itself.
        .nresamples(10_000)
        .without_plots();
    targets = bench_training_step
}
criterion_main!(fixed_calls, benches);
