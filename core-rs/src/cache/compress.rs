//! LZ4 compression of large byte values.
//!
//! A bytes value at least `threshold` long is compressed with LZ4 (block format, the
//! original length prepended). LZ4 rather than zstd: decompression runs on every `get`
//! of the value, and LZ4 decompresses several times faster for a ratio that is good
//! enough on the JSON and text the agent caches. A value is kept compressed only if
//! that saves at least an eighth of its size; already-compressed data (images, archives)
//! is stored as it came, so a `get` never pays for a decompression that saved nothing.

use std::sync::Arc;

use super::CacheError;

/// A byte value held in compressed form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compressed {
    data: Arc<[u8]>,
    original_len: usize,
}

impl Compressed {
    /// Compress `data` if it is at least `threshold` bytes and compresses well enough.
    /// `None` means: store the value as it is.
    pub fn try_compress(data: &[u8], threshold: usize) -> Option<Self> {
        if data.len() < threshold {
            return None;
        }
        let packed = lz4_flex::compress_prepend_size(data);
        if packed.len() > data.len() - data.len() / 8 {
            return None;
        }
        Some(Self {
            data: packed.into(),
            original_len: data.len(),
        })
    }

    /// The original bytes.
    pub fn decompress(&self) -> Result<Vec<u8>, CacheError> {
        let out = lz4_flex::decompress_size_prepended(&self.data)
            .map_err(|e| CacheError::Decompress(e.to_string()))?;
        if out.len() != self.original_len {
            return Err(CacheError::Decompress(format!(
                "expected {} bytes, got {}",
                self.original_len,
                out.len()
            )));
        }
        Ok(out)
    }

    /// Decompress into `out`, which must be exactly [`Compressed::original_len`] long
    /// (saves a copy when the caller owns the destination buffer).
    pub fn decompress_into(&self, out: &mut [u8]) -> Result<(), CacheError> {
        if out.len() != self.original_len || self.data.len() < 4 {
            return Err(CacheError::Decompress(format!(
                "output buffer is {} bytes, expected {}",
                out.len(),
                self.original_len
            )));
        }
        let n = lz4_flex::decompress_into(&self.data[4..], out)
            .map_err(|e| CacheError::Decompress(e.to_string()))?;
        if n != self.original_len {
            return Err(CacheError::Decompress(format!(
                "expected {} bytes, got {n}",
                self.original_len
            )));
        }
        Ok(())
    }

    /// Bytes held in memory (what the entry weighs).
    pub fn stored_len(&self) -> usize {
        self.data.len()
    }

    pub fn original_len(&self) -> usize {
        self.original_len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_above_threshold() {
        let data = br#"{"label": "invoice", "score": 0.97}"#.repeat(200);
        let c = Compressed::try_compress(&data, 1024).expect("repetitive JSON compresses");
        assert!(c.stored_len() < data.len() / 4);
        assert_eq!(c.original_len(), data.len());
        assert_eq!(c.decompress().unwrap(), data);
        let mut out = vec![0u8; data.len()];
        c.decompress_into(&mut out).unwrap();
        assert_eq!(out, data);
        assert!(c.decompress_into(&mut out[1..]).is_err());
    }

    #[test]
    fn below_threshold_is_left_alone() {
        assert!(Compressed::try_compress(&[0u8; 100], 101).is_none());
        assert!(Compressed::try_compress(&[0u8; 100], 100).is_some());
    }

    #[test]
    fn incompressible_is_left_alone() {
        // A xorshift stream: no redundancy for LZ4 to find.
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let data: Vec<u8> = (0..8192)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        assert!(Compressed::try_compress(&data, 1).is_none());
    }

    #[test]
    fn corrupt_data_is_an_error_not_a_panic() {
        let c = Compressed {
            data: Arc::from(&[200u8, 0, 0, 0, 0xff, 1][..]),
            original_len: 200,
        };
        assert!(matches!(c.decompress(), Err(CacheError::Decompress(_))));
        assert!(c.decompress_into(&mut [0u8; 200]).is_err());
    }
}
