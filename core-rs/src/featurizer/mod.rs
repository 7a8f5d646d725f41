//! Text featurizer: Unicode normalisation, lower-casing, tokenising, word and character
//! n-gram feature hashing into a fixed-size `f32` vector, sublinear tf, optional idf
//! weights and an l2 norm.
//!
//! The same [`FeaturizerConfig`] is saved in a model's manifest, and both the training
//! scripts in `models/` and the agent at inference go through [`Featurizer`], so what a
//! model was trained on and what it sees are the same by construction.
//!
//! Determinism: the hash is FNV-1a (64 bit) over UTF-8 bytes, with no per-process seed,
//! so a text maps to the same vector on every run and platform.

use serde::{Deserialize, Serialize};
use unicode_normalization::{is_nfc_quick, is_nfkc_quick, IsNormalized, UnicodeNormalization};

/// Largest vector the featurizer builds (2^24 buckets, 64 MiB of f32).
pub const MAX_FEATURES: usize = 1 << 24;
/// Longest n-gram (words or characters) accepted in a config.
pub const MAX_NGRAM: usize = 16;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FeaturizerError {
    #[error("invalid featurizer config: {0}")]
    InvalidConfig(String),
    #[error("idf weights have length {got}, expected n_features={expected}")]
    IdfLength { expected: usize, got: usize },
    #[error("idf weight at index {0} is not a finite number >= 0")]
    BadIdfWeight(usize),
    #[error("input is {got} bytes, over the featurizer's max_input_bytes={limit}")]
    InputTooLarge { got: usize, limit: usize },
}

/// Unicode normalisation applied before anything else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Normalization {
    None,
    Nfc,
    Nfkc,
}

/// Everything that decides the output vector. Saved in model manifests as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FeaturizerConfig {
    /// Number of hash buckets (length of the output vector).
    pub n_features: usize,
    /// Inclusive range of word n-gram lengths; `[0, 0]` turns word features off.
    pub word_ngrams: [usize; 2],
    /// Inclusive range of character n-gram lengths, taken inside each word padded with
    /// a space on both sides (like scikit-learn's `char_wb`); `[0, 0]` turns them off.
    pub char_ngrams: [usize; 2],
    pub normalization: Normalization,
    pub lowercase: bool,
    /// Replace a raw count `c` by `1 + ln(c)`.
    pub sublinear_tf: bool,
    /// Give each feature a sign from its hash, so collisions cancel out on average.
    pub alternate_sign: bool,
    /// Scale the vector to unit euclidean length (after idf).
    pub l2_norm: bool,
    /// Inputs longer than this many bytes are refused.
    pub max_input_bytes: usize,
}

impl Default for FeaturizerConfig {
    fn default() -> Self {
        Self {
            n_features: 1 << 18,
            word_ngrams: [1, 2],
            char_ngrams: [0, 0],
            normalization: Normalization::Nfkc,
            lowercase: true,
            sublinear_tf: true,
            alternate_sign: false,
            l2_norm: true,
            max_input_bytes: 16 << 20,
        }
    }
}

impl FeaturizerConfig {
    pub fn validate(&self) -> Result<(), FeaturizerError> {
        let bad = |m: String| Err(FeaturizerError::InvalidConfig(m));
        if self.n_features == 0 || self.n_features > MAX_FEATURES {
            return bad(format!(
                "n_features={} must be in 1..={MAX_FEATURES}",
                self.n_features
            ));
        }
        for (name, [lo, hi]) in [
            ("word_ngrams", self.word_ngrams),
            ("char_ngrams", self.char_ngrams),
        ] {
            let off = lo == 0 && hi == 0;
            if !off && (lo == 0 || lo > hi || hi > MAX_NGRAM) {
                return bad(format!(
                    "{name}=[{lo}, {hi}] must be [0, 0] (off) or 1 <= min <= max <= {MAX_NGRAM}"
                ));
            }
        }
        if self.word_ngrams == [0, 0] && self.char_ngrams == [0, 0] {
            return bad("word_ngrams and char_ngrams are both off; nothing to featurize".into());
        }
        if self.max_input_bytes == 0 {
            return bad("max_input_bytes must be > 0".into());
        }
        Ok(())
    }
}

/// A configured featurizer, optionally with idf weights. Immutable and `Sync`: share
/// one across threads.
#[derive(Debug, Clone)]
pub struct Featurizer {
    config: FeaturizerConfig,
    idf: Option<Vec<f32>>,
}

impl Featurizer {
    pub fn new(config: FeaturizerConfig, idf: Option<Vec<f32>>) -> Result<Self, FeaturizerError> {
        config.validate()?;
        if let Some(w) = &idf {
            if w.len() != config.n_features {
                return Err(FeaturizerError::IdfLength {
                    expected: config.n_features,
                    got: w.len(),
                });
            }
            if let Some(i) = w.iter().position(|x| !x.is_finite() || *x < 0.0) {
                return Err(FeaturizerError::BadIdfWeight(i));
            }
        }
        Ok(Self { config, idf })
    }

    pub fn config(&self) -> &FeaturizerConfig {
        &self.config
    }

    pub fn idf(&self) -> Option<&[f32]> {
        self.idf.as_deref()
    }

    pub fn n_features(&self) -> usize {
        self.config.n_features
    }

    /// The normalised, lower-cased tokens of `text` (what word n-grams are built from).
    pub fn tokens(&self, text: &str) -> Vec<String> {
        tokenize(&self.prepare(text))
            .into_iter()
            .map(str::to_owned)
            .collect()
    }

    fn prepare(&self, text: &str) -> String {
        // The quick checks answer "already normalised" for almost all real text (ASCII
        // always), which skips decomposing and recomposing every character.
        let normalized: String = match self.config.normalization {
            Normalization::None => text.to_owned(),
            Normalization::Nfc if is_nfc_quick(text.chars()) == IsNormalized::Yes => {
                text.to_owned()
            }
            Normalization::Nfc => text.nfc().collect(),
            Normalization::Nfkc if is_nfkc_quick(text.chars()) == IsNormalized::Yes => {
                text.to_owned()
            }
            Normalization::Nfkc => text.nfkc().collect(),
        };
        if self.config.lowercase {
            normalized.to_lowercase()
        } else {
            normalized
        }
    }

    /// Featurize one text into `out` (length `n_features`, overwritten).
    pub fn transform_into(&self, text: &str, out: &mut [f32]) -> Result<(), FeaturizerError> {
        assert_eq!(
            out.len(),
            self.config.n_features,
            "output slice has the wrong length"
        );
        if text.len() > self.config.max_input_bytes {
            return Err(FeaturizerError::InputTooLarge {
                got: text.len(),
                limit: self.config.max_input_bytes,
            });
        }
        out.fill(0.0);
        let prepared = self.prepare(text);
        let tokens = tokenize(&prepared);
        let n = self.config.n_features as u64;
        let mut add = |kind: u8, parts: &[&str]| {
            let h = fnv1a_parts(kind, parts);
            let idx = (h % n) as usize;
            let sign = if self.config.alternate_sign && (h >> 63) == 1 {
                -1.0
            } else {
                1.0
            };
            out[idx] += sign;
        };
        let refs = tokens;
        let [wlo, whi] = self.config.word_ngrams;
        if wlo > 0 {
            for len in wlo..=whi {
                for gram in refs.windows(len) {
                    add(b'w', gram);
                }
            }
        }
        let [clo, chi] = self.config.char_ngrams;
        if clo > 0 {
            let mut padded: Vec<char> = Vec::new();
            let mut buf = String::new();
            for tok in &refs {
                padded.clear();
                padded.push(' ');
                padded.extend(tok.chars());
                padded.push(' ');
                for len in clo..=chi {
                    if len > padded.len() {
                        break;
                    }
                    for gram in padded.windows(len) {
                        buf.clear();
                        buf.extend(gram.iter());
                        add(b'c', &[buf.as_str()]);
                    }
                }
            }
        }
        self.weight(out);
        Ok(())
    }

    fn weight(&self, v: &mut [f32]) {
        if self.config.sublinear_tf {
            for x in v.iter_mut() {
                if *x != 0.0 {
                    *x = x.signum() * (1.0 + x.abs().ln());
                }
            }
        }
        if let Some(idf) = &self.idf {
            for (x, w) in v.iter_mut().zip(idf) {
                *x *= *w;
            }
        }
        if self.config.l2_norm {
            let norm = v
                .iter()
                .map(|x| (*x as f64) * (*x as f64))
                .sum::<f64>()
                .sqrt();
            if norm > 0.0 {
                let inv = (1.0 / norm) as f32;
                for x in v.iter_mut() {
                    *x *= inv;
                }
            }
        }
    }

    /// Featurize one text into a new vector.
    pub fn transform(&self, text: &str) -> Result<Vec<f32>, FeaturizerError> {
        let mut out = vec![0.0; self.config.n_features];
        self.transform_into(text, &mut out)?;
        Ok(out)
    }

    /// Featurize many texts into one row-major matrix (`texts.len() * n_features`).
    /// Rows are computed in parallel; each row equals [`Featurizer::transform`] of its text.
    pub fn transform_batch<S: AsRef<str> + Sync>(
        &self,
        texts: &[S],
    ) -> Result<Vec<f32>, FeaturizerError> {
        use rayon::prelude::*;
        let n = self.config.n_features;
        let mut out = vec![0.0f32; texts.len() * n];
        if n == 0 || texts.is_empty() {
            return Ok(out);
        }
        out.par_chunks_mut(n)
            .zip(texts.par_iter())
            .try_for_each(|(row, text)| self.transform_into(text.as_ref(), row))?;
        Ok(out)
    }
}

/// Split prepared text into maximal runs of alphanumeric characters.
fn tokenize(text: &str) -> Vec<&str> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .collect()
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a over a kind byte and the parts joined by a space.
fn fnv1a_parts(kind: u8, parts: &[&str]) -> u64 {
    let mut h = FNV_OFFSET;
    let mut feed = |b: u8| {
        h ^= b as u64;
        h = h.wrapping_mul(FNV_PRIME);
    };
    feed(kind);
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            feed(b' ');
        }
        for b in p.bytes() {
            feed(b);
        }
    }
    // Final avalanche (splitmix64) so that the low bits used for `% n` mix well.
    let mut z = h;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> FeaturizerConfig {
        FeaturizerConfig {
            n_features: 64,
            ..Default::default()
        }
    }

    #[test]
    fn unit_norm_and_deterministic() {
        let f = Featurizer::new(small(), None).unwrap();
        let a = f.transform("Invoice number 42, total due EUR 100").unwrap();
        let b = f.transform("Invoice number 42, total due EUR 100").unwrap();
        assert_eq!(a, b);
        let norm: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5);
    }

    #[test]
    fn normalisation_and_case_fold() {
        let f = Featurizer::new(small(), None).unwrap();
        // U+FB01 (fi ligature) becomes "fi" under NFKC; case folds.
        assert_eq!(
            f.transform("\u{FB01}LE Report").unwrap(),
            f.transform("file report").unwrap()
        );
        assert_eq!(
            f.tokens("Hello, WORLD!  x_y"),
            vec!["hello", "world", "x", "y"]
        );
    }

    #[test]
    fn empty_text_is_zero_vector() {
        let f = Featurizer::new(small(), None).unwrap();
        assert!(f.transform("").unwrap().iter().all(|x| *x == 0.0));
        assert!(f.transform("  ,;  ").unwrap().iter().all(|x| *x == 0.0));
    }

    #[test]
    fn batch_equals_single() {
        let cfg = FeaturizerConfig {
            char_ngrams: [2, 4],
            alternate_sign: true,
            ..small()
        };
        let f = Featurizer::new(cfg, None).unwrap();
        let texts = ["alpha beta", "", "Grüße aus Köln", "a"];
        let batch = f.transform_batch(&texts).unwrap();
        for (i, t) in texts.iter().enumerate() {
            assert_eq!(
                &batch[i * 64..(i + 1) * 64],
                f.transform(t).unwrap().as_slice()
            );
        }
    }

    #[test]
    fn idf_weights_apply() {
        let mut idf = vec![1.0; 64];
        let f0 = Featurizer::new(small(), None).unwrap();
        let raw = FeaturizerConfig {
            l2_norm: false,
            ..small()
        };
        let plain = Featurizer::new(raw.clone(), None)
            .unwrap()
            .transform("word")
            .unwrap();
        let idx = plain.iter().position(|x| *x != 0.0).unwrap();
        idf[idx] = 3.0;
        let weighted = Featurizer::new(raw, Some(idf))
            .unwrap()
            .transform("word")
            .unwrap();
        assert_eq!(weighted[idx], plain[idx] * 3.0);
        assert!(f0.idf().is_none());
    }

    #[test]
    fn bad_config_and_input_are_errors() {
        assert!(Featurizer::new(
            FeaturizerConfig {
                n_features: 0,
                ..small()
            },
            None
        )
        .is_err());
        assert!(Featurizer::new(
            FeaturizerConfig {
                word_ngrams: [3, 1],
                ..small()
            },
            None
        )
        .is_err());
        assert!(Featurizer::new(
            FeaturizerConfig {
                word_ngrams: [0, 0],
                char_ngrams: [0, 0],
                ..small()
            },
            None
        )
        .is_err());
        assert_eq!(
            Featurizer::new(small(), Some(vec![1.0; 3])).unwrap_err(),
            FeaturizerError::IdfLength {
                expected: 64,
                got: 3
            }
        );
        assert_eq!(
            Featurizer::new(small(), Some(vec![f32::NAN; 64])).unwrap_err(),
            FeaturizerError::BadIdfWeight(0)
        );
        let f = Featurizer::new(
            FeaturizerConfig {
                max_input_bytes: 4,
                ..small()
            },
            None,
        )
        .unwrap();
        assert!(matches!(
            f.transform("hello"),
            Err(FeaturizerError::InputTooLarge { .. })
        ));
    }

    #[test]
    fn config_json_round_trip() {
        let cfg = FeaturizerConfig {
            char_ngrams: [3, 5],
            ..Default::default()
        };
        let json = serde_json::to_string(&cfg).unwrap();
        assert_eq!(
            serde_json::from_str::<FeaturizerConfig>(&json).unwrap(),
            cfg
        );
        assert!(serde_json::from_str::<FeaturizerConfig>(r#"{"bogus": 1}"#).is_err());
    }
}
