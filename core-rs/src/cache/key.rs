//! Cache keys: a text, a byte string or an integer, converted once at the edge.
//!
//! [`CacheKey`] is what the cache stores; [`KeyRef`] borrows the same data so a lookup
//! needs no allocation. Both hash through [`KeyRef`], which is what makes
//! `KeyRef: Equivalent<CacheKey>` sound (equal keys hash equally whichever form they take).
//!
//! The three kinds never compare equal to each other: `"a"`, `b"a"` and `97` are three
//! keys, as they are in a Python `dict`. Integers that don't fit an `i64` are kept as their
//! decimal text in [`CacheKey::BigInt`], which stays distinct from a `Str` with the same
//! digits.

use std::hash::{Hash, Hasher};

/// An owned cache key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheKey {
    Str(Box<str>),
    Bytes(Box<[u8]>),
    Int(i64),
    /// An integer outside the `i64` range, as canonical decimal text (`-` sign, no
    /// leading zeros), which is how Python's `str(int)` writes it.
    BigInt(Box<str>),
}

/// A borrowed cache key, for lookups without allocating.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyRef<'a> {
    Str(&'a str),
    Bytes(&'a [u8]),
    Int(i64),
    BigInt(&'a str),
}

impl CacheKey {
    pub fn as_key_ref(&self) -> KeyRef<'_> {
        match self {
            CacheKey::Str(s) => KeyRef::Str(s),
            CacheKey::Bytes(b) => KeyRef::Bytes(b),
            CacheKey::Int(i) => KeyRef::Int(*i),
            CacheKey::BigInt(s) => KeyRef::BigInt(s),
        }
    }
}

impl KeyRef<'_> {
    pub fn to_owned_key(self) -> CacheKey {
        match self {
            KeyRef::Str(s) => CacheKey::Str(s.into()),
            KeyRef::Bytes(b) => CacheKey::Bytes(b.into()),
            KeyRef::Int(i) => CacheKey::Int(i),
            KeyRef::BigInt(s) => CacheKey::BigInt(s.into()),
        }
    }
}

impl Hash for CacheKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_key_ref().hash(state);
    }
}

impl moka::Equivalent<CacheKey> for KeyRef<'_> {
    fn equivalent(&self, key: &CacheKey) -> bool {
        *self == key.as_key_ref()
    }
}

impl From<&str> for CacheKey {
    fn from(s: &str) -> Self {
        CacheKey::Str(s.into())
    }
}

impl From<&[u8]> for CacheKey {
    fn from(b: &[u8]) -> Self {
        CacheKey::Bytes(b.into())
    }
}

impl From<i64> for CacheKey {
    fn from(i: i64) -> Self {
        CacheKey::Int(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::hash_map::DefaultHasher;

    fn hash_of<T: Hash + ?Sized>(t: &T) -> u64 {
        let mut h = DefaultHasher::new();
        t.hash(&mut h);
        h.finish()
    }

    #[test]
    fn owned_and_borrowed_hash_alike() {
        let keys = [
            CacheKey::from("doc-1"),
            CacheKey::from(&b"\x00\xff"[..]),
            CacheKey::from(-7),
            CacheKey::BigInt("123456789012345678901234567890".into()),
        ];
        for k in &keys {
            let r = k.as_key_ref();
            assert_eq!(hash_of(k), hash_of(&r));
            assert!(moka::Equivalent::equivalent(&r, k));
            assert_eq!(r.to_owned_key(), *k);
        }
    }

    #[test]
    fn kinds_never_collide() {
        let s = CacheKey::from("97");
        let b = CacheKey::from(&b"97"[..]);
        let i = CacheKey::from(97);
        let big = CacheKey::BigInt("97".into());
        for (x, y) in [(&s, &b), (&s, &i), (&b, &i), (&s, &big), (&i, &big)] {
            assert_ne!(x, y);
            assert!(!moka::Equivalent::equivalent(&x.as_key_ref(), y));
        }
    }
}
