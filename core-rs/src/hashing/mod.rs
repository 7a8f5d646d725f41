//! Content ids (BLAKE3) and keccak256.
//!
//! A content id is `"b3:" + hex(blake3(bytes))`: the prefix names the algorithm so the
//! id format can change later without ambiguity. keccak256 is Ethereum's hash (the
//! pre-standard Keccak, not SHA3-256) and is what Merkle leaves for on-chain anchoring use.

use tiny_keccak::{Hasher, Keccak};

/// The prefix of every content id; names the hash function.
pub const CONTENT_ID_PREFIX: &str = "b3:";

/// Inputs at least this large are hashed with BLAKE3's multi-threaded tree mode.
const PARALLEL_THRESHOLD: usize = 1 << 20;

/// BLAKE3 digest of `data` (32 bytes).
pub fn blake3_digest(data: &[u8]) -> [u8; 32] {
    if data.len() >= PARALLEL_THRESHOLD {
        let mut hasher = blake3::Hasher::new();
        hasher.update_rayon(data);
        *hasher.finalize().as_bytes()
    } else {
        *blake3::hash(data).as_bytes()
    }
}

/// The content id of `data`: `b3:` followed by 64 lower-case hex digits.
pub fn content_id(data: &[u8]) -> String {
    let digest = blake3_digest(data);
    let mut out = String::with_capacity(CONTENT_ID_PREFIX.len() + 64);
    out.push_str(CONTENT_ID_PREFIX);
    out.push_str(&to_hex(&digest));
    out
}

/// keccak256 of `data` (Ethereum's hash).
pub fn keccak256(data: &[u8]) -> [u8; 32] {
    let mut hasher = Keccak::v256();
    hasher.update(data);
    let mut out = [0u8; 32];
    hasher.finalize(&mut out);
    out
}

/// Lower-case hex of `bytes`.
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 0xf) as usize] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blake3_known_vector() {
        // BLAKE3 of the empty input, from the BLAKE3 reference test vectors.
        assert_eq!(
            content_id(b""),
            "b3:af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
        );
    }

    #[test]
    fn keccak_known_vectors() {
        assert_eq!(
            to_hex(&keccak256(b"")),
            "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
        );
        assert_eq!(
            to_hex(&keccak256(b"abc")),
            "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45"
        );
    }

    #[test]
    fn parallel_and_serial_paths_agree() {
        let big: Vec<u8> = (0..(PARALLEL_THRESHOLD + 17))
            .map(|i| (i % 251) as u8)
            .collect();
        assert_eq!(blake3_digest(&big), *blake3::hash(&big).as_bytes());
    }
}
