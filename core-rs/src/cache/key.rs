//! Cache keys: a text, a byte string or an integer, converted once at the edge.
//!
//! [`CacheKey`] is what the cache stores; [`KeyRef`] borrows the same data so a lookup
//! needs no allocation. The three kinds never compare equal to each other: `"a"`, `b"a"`
//! and `97` are three keys, as they are in a Python `dict`. Integers that don't fit an
//! `i64` are kept as their decimal text under their own kind, so they stay distinct from
//! a string with the same digits.
//!
//! Layout, for lookup speed. moka's concurrent map keeps no hashes beside its slots, so
//! every probe dereferences the stored key to compare it. A key therefore carries its
//! 64-bit hash inline (a probe that meets another key stops at the hash), and keys up to
//! [`INLINE_LEN`] bytes (a DWC content id is 67) keep their bytes inline too, in the
//! same allocation. The hash is foldhash with a per-process random seed, computed once
//! when the key is made; moka's own hasher then only passes it through ([`KeyHasher`]).

use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::OnceLock;

/// Keys up to this many bytes are stored without a second allocation.
pub const INLINE_LEN: usize = 71;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
enum Kind {
    Str,
    Bytes,
    Int,
    BigInt,
}

/// A key's content, borrowed: what the binding converts a Python key to or from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyView<'a> {
    Str(&'a str),
    Bytes(&'a [u8]),
    Int(i64),
    /// An integer outside the `i64` range, as canonical decimal text (`-` sign, no
    /// leading zeros), which is how Python's `str(int)` writes it.
    BigInt(&'a str),
}

#[derive(Debug, Clone)]
enum Data {
    Inline { len: u8, buf: [u8; INLINE_LEN] },
    Heap(Box<[u8]>),
}

/// An owned cache key.
#[derive(Debug, Clone)]
pub struct CacheKey {
    hash: u64,
    kind: Kind,
    data: Data,
}

/// A borrowed cache key, for lookups without allocating.
#[derive(Debug, Clone, Copy)]
pub struct KeyRef<'a> {
    hash: u64,
    kind: Kind,
    bytes: RefBytes<'a>,
}

#[derive(Debug, Clone, Copy)]
enum RefBytes<'a> {
    Slice(&'a [u8]),
    Int([u8; 8]),
}

impl RefBytes<'_> {
    fn as_slice(&self) -> &[u8] {
        match self {
            RefBytes::Slice(s) => s,
            RefBytes::Int(b) => b,
        }
    }
}

fn seed() -> &'static foldhash::fast::FixedState {
    static SEED: OnceLock<foldhash::fast::FixedState> = OnceLock::new();
    SEED.get_or_init(|| {
        // A random per-process seed (from std's randomly keyed hasher), so keys chosen
        // by an outsider cannot be aimed at one slot.
        let random = std::collections::hash_map::RandomState::new().hash_one(0x5eed_u64);
        foldhash::fast::FixedState::with_seed(random)
    })
}

fn key_hash(kind: Kind, bytes: &[u8]) -> u64 {
    let mut h = seed().build_hasher();
    h.write_u8(kind as u8);
    h.write(bytes);
    h.finish()
}

impl<'a> KeyRef<'a> {
    fn new(kind: Kind, bytes: RefBytes<'a>) -> Self {
        Self {
            hash: key_hash(kind, bytes.as_slice()),
            kind,
            bytes,
        }
    }

    pub fn str(s: &'a str) -> Self {
        Self::new(Kind::Str, RefBytes::Slice(s.as_bytes()))
    }

    pub fn bytes(b: &'a [u8]) -> Self {
        Self::new(Kind::Bytes, RefBytes::Slice(b))
    }

    pub fn int(i: i64) -> Self {
        Self::new(Kind::Int, RefBytes::Int(i.to_le_bytes()))
    }

    /// An integer outside the `i64` range, as its canonical decimal text.
    pub fn big_int(decimal: &'a str) -> Self {
        Self::new(Kind::BigInt, RefBytes::Slice(decimal.as_bytes()))
    }

    pub fn to_owned_key(self) -> CacheKey {
        let bytes = self.bytes.as_slice();
        let data = if bytes.len() <= INLINE_LEN {
            let mut buf = [0u8; INLINE_LEN];
            buf[..bytes.len()].copy_from_slice(bytes);
            Data::Inline {
                len: bytes.len() as u8,
                buf,
            }
        } else {
            Data::Heap(bytes.into())
        };
        CacheKey {
            hash: self.hash,
            kind: self.kind,
            data,
        }
    }
}

impl CacheKey {
    fn bytes(&self) -> &[u8] {
        match &self.data {
            Data::Inline { len, buf } => &buf[..*len as usize],
            Data::Heap(b) => b,
        }
    }

    /// The key's content, for converting it back.
    pub fn view(&self) -> KeyView<'_> {
        let bytes = self.bytes();
        // The text kinds were made from `&str`s, so they are valid UTF-8.
        let text = || std::str::from_utf8(bytes).expect("text keys are UTF-8");
        match self.kind {
            Kind::Str => KeyView::Str(text()),
            Kind::Bytes => KeyView::Bytes(bytes),
            Kind::Int => KeyView::Int(i64::from_le_bytes(bytes.try_into().expect("8 bytes"))),
            Kind::BigInt => KeyView::BigInt(text()),
        }
    }

    pub fn as_key_ref(&self) -> KeyRef<'_> {
        KeyRef {
            hash: self.hash,
            kind: self.kind,
            bytes: RefBytes::Slice(self.bytes()),
        }
    }
}

impl PartialEq for CacheKey {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash && self.kind == other.kind && self.bytes() == other.bytes()
    }
}

impl Eq for CacheKey {}

impl Hash for CacheKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl Hash for KeyRef<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl moka::Equivalent<CacheKey> for KeyRef<'_> {
    fn equivalent(&self, key: &CacheKey) -> bool {
        self.hash == key.hash && self.kind == key.kind && self.bytes.as_slice() == key.bytes()
    }
}

impl From<&str> for CacheKey {
    fn from(s: &str) -> Self {
        KeyRef::str(s).to_owned_key()
    }
}

impl From<&[u8]> for CacheKey {
    fn from(b: &[u8]) -> Self {
        KeyRef::bytes(b).to_owned_key()
    }
}

impl From<i64> for CacheKey {
    fn from(i: i64) -> Self {
        KeyRef::int(i).to_owned_key()
    }
}

/// moka's `BuildHasher`: keys arrive already hashed, so it passes their hash through.
#[derive(Debug, Clone, Copy, Default)]
pub struct KeyHasher;

impl BuildHasher for KeyHasher {
    type Hasher = PassThrough;

    fn build_hasher(&self) -> PassThrough {
        PassThrough(0)
    }
}

/// Returns the one `u64` written to it (a key's precomputed hash).
#[derive(Debug, Clone, Copy, Default)]
pub struct PassThrough(u64);

impl Hasher for PassThrough {
    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used by the key types; mix anything else in anyway.
        for &b in bytes {
            self.0 = (self.0 ^ b as u64).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 ^= n;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash_of<T: Hash + ?Sized>(t: &T) -> u64 {
        KeyHasher.hash_one(t)
    }

    fn samples() -> Vec<CacheKey> {
        vec![
            CacheKey::from("doc-1"),
            CacheKey::from(""),
            CacheKey::from(&b"\x00\xff"[..]),
            CacheKey::from(-7),
            CacheKey::from(i64::MIN),
            KeyRef::big_int("123456789012345678901234567890").to_owned_key(),
            CacheKey::from("b3:".repeat(40).as_str()), // over INLINE_LEN: on the heap
            CacheKey::from("x".repeat(INLINE_LEN).as_str()),
        ]
    }

    #[test]
    fn owned_and_borrowed_hash_and_compare_alike() {
        for k in samples() {
            let r = k.as_key_ref();
            assert_eq!(hash_of(&k), hash_of(&r));
            assert!(moka::Equivalent::equivalent(&r, &k));
            assert_eq!(r.to_owned_key(), k);
            assert_eq!(k.clone(), k);
        }
    }

    #[test]
    fn views_round_trip() {
        assert_eq!(CacheKey::from("é").view(), KeyView::Str("é"));
        assert_eq!(CacheKey::from(&b"ab"[..]).view(), KeyView::Bytes(b"ab"));
        assert_eq!(CacheKey::from(i64::MAX).view(), KeyView::Int(i64::MAX));
        let long = "z".repeat(500);
        assert_eq!(CacheKey::from(long.as_str()).view(), KeyView::Str(&long));
        assert_eq!(
            KeyRef::big_int("-99").to_owned_key().view(),
            KeyView::BigInt("-99")
        );
    }

    #[test]
    fn kinds_never_collide() {
        let s = CacheKey::from("97");
        let b = CacheKey::from(&b"97"[..]);
        let i = CacheKey::from(97);
        let big = KeyRef::big_int("97").to_owned_key();
        for (x, y) in [(&s, &b), (&s, &i), (&b, &i), (&s, &big), (&i, &big)] {
            assert_ne!(x, y);
            assert!(!moka::Equivalent::equivalent(&x.as_key_ref(), y));
        }
    }

    #[test]
    fn hashes_spread_over_the_low_bits() {
        // moka picks slots from the hash; sequential ints must not share low bits.
        let mut low: Vec<u64> = (0..4096)
            .map(|i| hash_of(&CacheKey::from(i * 4096)) & 0xfff)
            .collect();
        low.sort_unstable();
        low.dedup();
        assert!(
            low.len() > 2000,
            "only {} distinct low-bit patterns",
            low.len()
        );
    }
}
