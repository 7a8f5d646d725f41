//! A Merkle proof with its context, and its stable JSON form.
//!
//! ```json
//! {"format":"dwc-merkle-proof/1","leaf_count":5,"index":2,
//!  "leaf":"0x…","proof":["0x…","0x…"],"root":"0x…"}
//! ```
//!
//! (one line, no spaces, in exactly this key order; line-wrapped here for reading).
//! Hashes are `0x` and 64 lower-case hex digits, the form Ethereum tooling prints and a
//! `bytes32[]` argument accepts; `proof` runs from the leaf's sibling up to the root's
//! child, as OpenZeppelin's `MerkleProof.verify(proof, root, leaf)` takes it. Parsing
//! also accepts upper-case hex, and refuses unknown keys, another `format`, an `index`
//! outside `leaf_count`, and a `proof` whose length does not fit that leaf's place in the
//! tree layout described in [`super`]. The same proof always serialises to the same
//! string, so it can be stored and compared as text.

use serde::{Deserialize, Serialize};

use super::{proof_len, verify, Hash32, MerkleError, MAX_LEAVES};
use crate::hashing::to_hex;

/// The `format` value of the current JSON layout.
pub const FORMAT: &str = "dwc-merkle-proof/1";

/// A leaf's proof, its place in the tree and the root it leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    pub leaf_count: usize,
    pub index: usize,
    pub leaf: Hash32,
    pub siblings: Vec<Hash32>,
    pub root: Hash32,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProofJson {
    format: String,
    leaf_count: usize,
    index: usize,
    leaf: String,
    proof: Vec<String>,
    root: String,
}

fn hex32(h: &Hash32) -> String {
    format!("0x{}", to_hex(h))
}

fn parse_hex32(s: &str, what: impl Fn() -> String) -> Result<Hash32, MerkleError> {
    let digits = s
        .strip_prefix("0x")
        .ok_or_else(|| MerkleError::Json(format!("{} must start with 0x", what())))?;
    if digits.len() != 64 {
        return Err(MerkleError::NotHash32 {
            what: what(),
            got: digits.len() / 2,
        });
    }
    let mut out = [0u8; 32];
    for (i, pair) in digits.as_bytes().chunks(2).enumerate() {
        let hi = (pair[0] as char).to_digit(16);
        let lo = (pair[1] as char).to_digit(16);
        match (hi, lo) {
            (Some(h), Some(l)) => out[i] = (h * 16 + l) as u8,
            _ => return Err(MerkleError::Json(format!("{} is not hex", what()))),
        }
    }
    Ok(out)
}

impl Proof {
    /// Whether the siblings lead from the leaf to the proof's own root. To trust a
    /// proof, compare `root` with the root you anchored as well.
    pub fn verify(&self) -> bool {
        verify(&self.leaf, &self.siblings, &self.root).unwrap_or(false)
    }

    pub fn to_json(&self) -> String {
        let doc = ProofJson {
            format: FORMAT.to_owned(),
            leaf_count: self.leaf_count,
            index: self.index,
            leaf: hex32(&self.leaf),
            proof: self.siblings.iter().map(hex32).collect(),
            root: hex32(&self.root),
        };
        serde_json::to_string(&doc).expect("a proof serialises")
    }

    pub fn from_json(text: &str) -> Result<Self, MerkleError> {
        let doc: ProofJson =
            serde_json::from_str(text).map_err(|e| MerkleError::Json(e.to_string()))?;
        if doc.format != FORMAT {
            return Err(MerkleError::Json(format!(
                "format is {:?}, expected {FORMAT:?}",
                doc.format
            )));
        }
        if doc.leaf_count == 0 || doc.leaf_count as u64 > MAX_LEAVES {
            return Err(MerkleError::Json(format!(
                "leaf_count={} must be in 1..={MAX_LEAVES}",
                doc.leaf_count
            )));
        }
        if doc.index >= doc.leaf_count {
            return Err(MerkleError::Json(format!(
                "index={} is out of range for leaf_count={}",
                doc.index, doc.leaf_count
            )));
        }
        let expected = proof_len(doc.leaf_count, doc.index);
        if doc.proof.len() != expected {
            return Err(MerkleError::ProofLength {
                got: doc.proof.len(),
                expected,
                index: doc.index,
                leaf_count: doc.leaf_count,
            });
        }
        let siblings = doc
            .proof
            .iter()
            .enumerate()
            .map(|(i, s)| parse_hex32(s, || format!("proof[{i}]")))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            leaf_count: doc.leaf_count,
            index: doc.index,
            leaf: parse_hex32(&doc.leaf, || "leaf".into())?,
            siblings,
            root: parse_hex32(&doc.root, || "root".into())?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::MerkleTree;
    use super::*;
    use crate::hashing::keccak256;

    fn tree(n: u64) -> MerkleTree {
        let leaves: Vec<Hash32> = (0..n).map(|i| keccak256(&i.to_le_bytes())).collect();
        MerkleTree::new(&leaves).unwrap()
    }

    #[test]
    fn json_round_trip_is_stable() {
        let t = tree(5);
        let p = t.full_proof(2).unwrap();
        let json = p.to_json();
        assert!(json
            .starts_with(r#"{"format":"dwc-merkle-proof/1","leaf_count":5,"index":2,"leaf":"0x"#));
        assert!(!json.contains(' '));
        let back = Proof::from_json(&json).unwrap();
        assert_eq!(back, p);
        assert_eq!(back.to_json(), json);
        assert!(back.verify());
        // Upper-case hex parses to the same proof.
        let upper = json.replace("0x", "0X").to_uppercase().replace("0X", "0x");
        let upper = upper
            .replace("FORMAT", "format")
            .replace("DWC-MERKLE-PROOF/1", FORMAT);
        let upper = upper
            .replace("LEAF_COUNT", "leaf_count")
            .replace("INDEX", "index");
        let upper = upper
            .replace("LEAF", "leaf")
            .replace("PROOF", "proof")
            .replace("ROOT", "root");
        assert_eq!(Proof::from_json(&upper).unwrap(), p);
    }

    #[test]
    fn one_leaf_proof_is_empty() {
        let p = tree(1).full_proof(0).unwrap();
        assert!(p.siblings.is_empty());
        assert!(p.to_json().contains(r#""proof":[]"#));
        assert!(Proof::from_json(&p.to_json()).unwrap().verify());
    }

    #[test]
    fn malformed_documents_are_refused() {
        let good = tree(5).full_proof(4).unwrap();
        let json = good.to_json();
        let mut short = good.clone();
        short.siblings.pop();
        assert!(matches!(
            Proof::from_json(&short.to_json()),
            Err(MerkleError::ProofLength {
                got: 1,
                expected: 2,
                ..
            })
        ));
        let cases = [
            json.replace(FORMAT, "dwc-merkle-proof/0"),
            json.replace(r#""index":4"#, r#""index":5"#),
            json.replace(r#""leaf_count":5"#, r#""leaf_count":0"#),
            json.replace(r#""leaf":"0x"#, r#""leaf":"0xzz"#),
            json.replace(r#""root":"0x"#, r#""root":""#),
            json.replace('}', r#","extra":1}"#),
            "not json".to_owned(),
        ];
        for bad in cases {
            assert!(Proof::from_json(&bad).is_err(), "{bad}");
        }
        let mut tampered = good;
        tampered.leaf[0] ^= 1;
        assert!(!Proof::from_json(&tampered.to_json()).unwrap().verify());
    }
}
