//! The body of iterprof's criterion example: one step of gradient descent of
//! a small linear model over a fixed, generated data set.
//!
//! `training_step` is `#[inline(never)]` so that it stays one function with
//! its own symbol in the bench binary (`iterprof_criterion_example::
//! training_step`, mangled `_ZN26iterprof_criterion_example13training_step17h…E`):
//! `iterprof record -f training_step` turns each call into one iteration.
//! Its work is the same on every call and has no data-dependent branch, so
//! the only thing that changes its cost is `passes` (ITERPROF_EXAMPLE_WORK).

use std::env;

/// Samples in the data set: 4096 × 16 features, two multiply-adds per
/// feature, is about 131 000 multiply-adds per pass: 30–35 µs per call on
/// the project's 2-vCPU machines (measured; 60–70 µs with the work doubled).
pub const SAMPLES: usize = 4096;
pub const FEATURES: usize = 16;

/// What one `training_step` reads and updates.
pub struct State {
    weights: [f64; FEATURES],
    inputs: Vec<[f64; FEATURES]>,
    targets: Vec<f64>,
    /// Gradient passes over the data per step: 1 normally, 2 for a
    /// "genuinely slower body" (twice the work, same code).
    passes: u32,
    /// Calls of `training_step` so far.
    pub steps: u64,
}

/// xorshift64: the same data on every run and every machine.
struct Xorshift(u64);

impl Xorshift {
    /// A uniform number in [-1, 1).
    fn next_unit(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }
}

impl State {
    /// A fresh model (all weights zero) over the generated data set, doing
    /// `passes` gradient passes per step (at least 1).
    pub fn new(passes: u32) -> State {
        let mut random = Xorshift(0x9e37_79b9_7f4a_7c15);
        let mut true_weights = [0.0; FEATURES];
        for w in true_weights.iter_mut() {
            *w = random.next_unit();
        }
        let mut inputs = Vec::with_capacity(SAMPLES);
        let mut targets = Vec::with_capacity(SAMPLES);
        for _ in 0..SAMPLES {
            let mut x = [0.0; FEATURES];
            for v in x.iter_mut() {
                *v = random.next_unit();
            }
            let noise = 0.01 * random.next_unit();
            targets.push(dot(&true_weights, &x) + noise);
            inputs.push(x);
        }
        State {
            weights: [0.0; FEATURES],
            inputs,
            targets,
            passes: passes.max(1),
            steps: 0,
        }
    }

    /// The state for the work factor in ITERPROF_EXAMPLE_WORK (a positive
    /// integer; unset means 1). Read once, at start-up, by the caller.
    pub fn from_env() -> Result<State, String> {
        Ok(State::new(work_from_env()?))
    }

    /// Gradient passes per step.
    pub fn passes(&self) -> u32 {
        self.passes
    }

    /// Mean squared error of the current weights over the data set.
    pub fn loss(&self) -> f64 {
        let mut sum = 0.0;
        for (x, y) in self.inputs.iter().zip(&self.targets) {
            let e = dot(&self.weights, x) - y;
            sum += e * e;
        }
        sum / SAMPLES as f64
    }
}

/// The work factor in ITERPROF_EXAMPLE_WORK: unset or empty means 1.
pub fn work_from_env() -> Result<u32, String> {
    match env::var("ITERPROF_EXAMPLE_WORK") {
        Err(env::VarError::NotPresent) => Ok(1),
        Ok(s) if s.is_empty() => Ok(1),
        Ok(s) => match s.parse::<u32>() {
            Ok(n) if (1..=1000).contains(&n) => Ok(n),
            _ => Err(format!(
                "ITERPROF_EXAMPLE_WORK={}: expected an integer from 1 to 1000",
                s
            )),
        },
        Err(e) => Err(format!("ITERPROF_EXAMPLE_WORK: {}", e)),
    }
}

fn dot(a: &[f64; FEATURES], b: &[f64; FEATURES]) -> f64 {
    let mut sum = 0.0;
    for i in 0..FEATURES {
        sum += a[i] * b[i];
    }
    sum
}

/// One training step: `passes` times, the gradient of the mean squared
/// error over every sample, then one descent step along it. Returns the
/// first component of the weights so the caller can keep the result alive.
///
/// `#[inline(never)]`: the function iterprof intercepts must exist as a
/// function; inlined into criterion's timing loop it would have no entry.
#[inline(never)]
pub fn training_step(state: &mut State) -> f64 {
    const LEARNING_RATE: f64 = 0.05;
    for _ in 0..state.passes {
        let mut gradient = [0.0; FEATURES];
        for (x, y) in state.inputs.iter().zip(&state.targets) {
            let error = dot(&state.weights, x) - y;
            for i in 0..FEATURES {
                gradient[i] += error * x[i];
            }
        }
        // Each pass takes 1/passes of the step, so a step moves the model about
        // as far whatever the work factor: only the cost changes.
        let scale = LEARNING_RATE * 2.0 / (SAMPLES as f64 * state.passes as f64);
        for i in 0..FEATURES {
            state.weights[i] -= scale * gradient[i];
        }
    }
    state.steps += 1;
    state.weights[0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_goes_down() {
        let mut state = State::new(1);
        let before = state.loss();
        for _ in 0..200 {
            training_step(&mut state);
        }
        assert!(state.loss() < before / 10.0);
        assert_eq!(state.steps, 200);
    }
}
