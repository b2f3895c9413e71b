//! One seeding scheme for a run: every random choice draws from its own named stream of the
//! preset's seed (ChaCha8's 64-bit stream counter), so adding a draw to one stage never shifts
//! the numbers of another, and no stage invents a constant of its own.

use rand::SeedableRng as _;
use rand_chacha::ChaCha8Rng;

/// The random streams of a run. The discriminants are the ChaCha stream numbers: never reuse
/// or renumber one (saved runs were drawn with them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u64)]
pub enum Stream {
    /// Splits, subsets and binarisation of the data.
    Data = 1,
    /// The rows of the evaluation set.
    EvalRows = 2,
    /// Samples drawn for the figures.
    Samples = 3,
    /// A neural model's evaluation on the test rows (the ELBO's z and the IWAE's importance
    /// samples).
    Evaluation = 4,
    /// The same on the training rows of the evaluation set.
    TrainEvaluation = 5,
}

/// A generator on `stream` of `seed`, for model `index` of the preset (0 for run-wide streams),
/// so two models never share draws.
pub fn rng(seed: u64, stream: Stream, index: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    // The high bits carry the model's index, the low bits the stream.
    rng.set_stream(((index as u64) << 8) | stream as u64);
    rng
}

/// A 64-bit seed drawn from `stream` (for libraries that take a seed, such as libtorch's).
pub fn derive(seed: u64, stream: Stream, index: usize) -> u64 {
    use rand::RngCore as _;
    rng(seed, stream, index).next_u64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_and_models_draw_different_numbers() {
        let all = [
            derive(0, Stream::Data, 0),
            derive(0, Stream::EvalRows, 0),
            derive(0, Stream::Samples, 0),
            derive(0, Stream::Samples, 1),
            derive(1, Stream::Samples, 1),
        ];
        for i in 0..all.len() {
            for j in 0..i {
                assert_ne!(all[i], all[j], "streams {i} and {j} coincide");
            }
        }
        assert_eq!(derive(7, Stream::Data, 0), derive(7, Stream::Data, 0));
    }
}
