//! Merkle trees over keccak256 with sorted-pair hashing, compatible with OpenZeppelin.
//!
//! A parent is `keccak256(min(a, b) ++ max(a, b))` (bytes compared as big-endian
//! integers), which is OpenZeppelin's `Hashes.commutativeKeccak256`. A proof is the list
//! of sibling hashes from the leaf up, so `MerkleProof.verify(proof, root, leaf)` in
//! OpenZeppelin Contracts accepts the proofs made here unchanged.
//!
//! # Layout, odd sizes and one leaf
//!
//! The tree is the complete binary tree that OpenZeppelin's `@openzeppelin/merkle-tree`
//! builds (`makeMerkleTree` in its `core.ts`): an array of `2n - 1` nodes, node `i` with
//! children `2i + 1` and `2i + 2`, and leaf `k` (in the order given) stored at index
//! `2n - 2 - k`. Every internal node has exactly two children, so no level ever has a
//! lone node to promote or duplicate; when `n` is not a power of two, leaves sit at two
//! depths and proofs are `floor(log2 n)` or `ceil(log2 n)` long. Roots therefore equal
//! `SimpleMerkleTree.of(leaves, { sortLeaves: false })` in that library; for a power of
//! two they also equal the usual level-by-level tree. A tree of one leaf has that leaf
//! as its root and an empty proof. Zero leaves is an error.
//!
//! Leaves are 32-byte hashes the caller made (for content, `keccak256(bytes)`). A
//! contract must never accept 64 bytes of raw data as a leaf's preimage: an inner node is
//! the keccak256 of 64 bytes, so such a leaf could pose as a node (the reason
//! OpenZeppelin's `StandardMerkleTree` hashes leaf data twice).
//! Building is parallel (rayon) level by level once a level is large enough.
//!
//! Proofs serialise to JSON as described in [`proof`].

pub mod proof;

use rayon::prelude::*;

use crate::hashing::keccak256;

pub use proof::Proof;

/// A 32-byte hash: a leaf, an internal node or a root.
pub type Hash32 = [u8; 32];

/// Most leaves a tree can have (2^32): proofs are then at most [`MAX_PROOF_LEN`] long.
pub const MAX_LEAVES: u64 = 1 << 32;
/// Longest proof accepted anywhere: the depth of a tree of [`MAX_LEAVES`] leaves.
pub const MAX_PROOF_LEN: usize = 32;

/// Levels with at least this many nodes to compute are hashed in parallel.
const PARALLEL_LEVEL: usize = 4096;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MerkleError {
    #[error("a Merkle tree needs at least one leaf")]
    Empty,
    #[error("{got} leaves is more than a Merkle tree can have ({MAX_LEAVES})")]
    TooManyLeaves { got: usize },
    #[error("leaf index {index} is out of range for a tree of {len} leaves")]
    IndexOutOfRange { index: usize, len: usize },
    #[error("{what} must be 32 bytes, got {got}")]
    NotHash32 { what: String, got: usize },
    #[error(
        "proof has {got} nodes, expected {expected} for leaf {index} of a {leaf_count}-leaf tree"
    )]
    ProofLength {
        got: usize,
        expected: usize,
        index: usize,
        leaf_count: usize,
    },
    #[error("proof has {0} nodes, more than the {MAX_PROOF_LEN} any tree can need")]
    ProofTooLong(usize),
    #[error("invalid Merkle proof JSON: {0}")]
    Json(String),
}

/// `keccak256` of the two hashes in ascending order (OpenZeppelin's commutative hash).
pub fn hash_pair(a: &Hash32, b: &Hash32) -> Hash32 {
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    let mut buf = [0u8; 64];
    buf[..32].copy_from_slice(lo);
    buf[32..].copy_from_slice(hi);
    keccak256(&buf)
}

/// The root a proof leads to from `leaf` (OpenZeppelin's `processProof`).
pub fn process_proof(leaf: &Hash32, proof: &[Hash32]) -> Hash32 {
    proof
        .iter()
        .fold(*leaf, |node, sibling| hash_pair(&node, sibling))
}

/// Whether `proof` leads from `leaf` to `root`. Proofs longer than [`MAX_PROOF_LEN`] are
/// an error rather than `false`: no tree here makes them, so they signal a mix-up.
pub fn verify(leaf: &Hash32, proof: &[Hash32], root: &Hash32) -> Result<bool, MerkleError> {
    if proof.len() > MAX_PROOF_LEN {
        return Err(MerkleError::ProofTooLong(proof.len()));
    }
    Ok(process_proof(leaf, proof) == *root)
}

/// Copy a slice into a [`Hash32`], naming `what` in the error.
pub fn to_hash32(bytes: &[u8], what: impl FnOnce() -> String) -> Result<Hash32, MerkleError> {
    bytes.try_into().map_err(|_| MerkleError::NotHash32 {
        what: what(),
        got: bytes.len(),
    })
}

/// Depth of node `i` in the array layout (the root has depth 0).
fn depth(i: usize) -> usize {
    (usize::BITS - 1 - (i + 1).leading_zeros()) as usize
}

/// Length of the proof of leaf `index` in a tree of `leaf_count` leaves.
pub fn proof_len(leaf_count: usize, index: usize) -> usize {
    depth(2 * leaf_count - 2 - index)
}

/// A built tree: every node kept, so any proof is a walk up the array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MerkleTree {
    nodes: Vec<Hash32>,
    leaf_count: usize,
}

impl MerkleTree {
    pub fn new(leaves: &[Hash32]) -> Result<Self, MerkleError> {
        let n = leaves.len();
        if n == 0 {
            return Err(MerkleError::Empty);
        }
        if n as u64 > MAX_LEAVES {
            return Err(MerkleError::TooManyLeaves { got: n });
        }
        let mut nodes = vec![[0u8; 32]; 2 * n - 1];
        let first_leaf = n - 1;
        for (slot, leaf) in nodes[first_leaf..].iter_mut().rev().zip(leaves) {
            *slot = *leaf;
        }
        if n > 1 {
            // Internal nodes are 0..n-1. Those at depth d occupy [2^d - 1, 2^(d+1) - 1),
            // and their children start exactly at 2^(d+1) - 1, so each level can be
            // computed from the one below it with one split of the array.
            for d in (0..=depth(n - 2)).rev() {
                let lo = (1usize << d) - 1;
                let hi = (1usize << (d + 1)) - 1;
                let end = hi.min(first_leaf);
                let (upper, lower) = nodes.split_at_mut(hi);
                let level = &mut upper[lo..end];
                let compute = |(k, node): (usize, &mut Hash32)| {
                    let left = 2 * (lo + k) + 1 - hi;
                    *node = hash_pair(&lower[left], &lower[left + 1]);
                };
                if level.len() >= PARALLEL_LEVEL {
                    level.par_iter_mut().enumerate().for_each(compute);
                } else {
                    level.iter_mut().enumerate().for_each(compute);
                }
            }
        }
        Ok(Self {
            nodes,
            leaf_count: n,
        })
    }

    pub fn root(&self) -> Hash32 {
        self.nodes[0]
    }

    pub fn len(&self) -> usize {
        self.leaf_count
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    fn check_index(&self, index: usize) -> Result<usize, MerkleError> {
        if index < self.leaf_count {
            Ok(2 * self.leaf_count - 2 - index)
        } else {
            Err(MerkleError::IndexOutOfRange {
                index,
                len: self.leaf_count,
            })
        }
    }

    /// Leaf `index`, in the order the leaves were given.
    pub fn leaf(&self, index: usize) -> Result<Hash32, MerkleError> {
        Ok(self.nodes[self.check_index(index)?])
    }

    /// Sibling hashes from leaf `index` up to (not including) the root.
    pub fn proof(&self, index: usize) -> Result<Vec<Hash32>, MerkleError> {
        let mut path = Vec::with_capacity(MAX_PROOF_LEN);
        self.proof_indices(index, &mut path)?;
        Ok(path.into_iter().map(|k| self.nodes[k]).collect())
    }

    /// Append to `out` the positions in [`MerkleTree::nodes`] of leaf `index`'s proof.
    pub fn proof_indices(&self, index: usize, out: &mut Vec<usize>) -> Result<(), MerkleError> {
        let mut i = self.check_index(index)?;
        while i > 0 {
            out.push(if i % 2 == 1 { i + 1 } else { i - 1 });
            i = (i - 1) / 2;
        }
        Ok(())
    }

    /// Every node in the array layout: the root first, leaf `k` at `2n - 2 - k`.
    pub fn nodes(&self) -> &[Hash32] {
        &self.nodes
    }

    /// The proof of every leaf, in leaf order (computed in parallel).
    pub fn proofs(&self) -> Vec<Vec<Hash32>> {
        (0..self.leaf_count)
            .into_par_iter()
            .map(|i| self.proof(i).expect("index in range"))
            .collect()
    }

    /// Leaf `index`'s proof with everything needed to check and store it.
    pub fn full_proof(&self, index: usize) -> Result<Proof, MerkleError> {
        Ok(Proof {
            leaf_count: self.leaf_count,
            index,
            leaf: self.leaf(index)?,
            siblings: self.proof(index)?,
            root: self.root(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn leaves(n: usize) -> Vec<Hash32> {
        (0..n as u64).map(|i| keccak256(&i.to_be_bytes())).collect()
    }

    /// The plain level-by-level reference for power-of-two sizes (where both layouts agree).
    fn levelled_root(leaves: &[Hash32]) -> Hash32 {
        let mut level = leaves.to_vec();
        while level.len() > 1 {
            level = level.chunks(2).map(|p| hash_pair(&p[0], &p[1])).collect();
        }
        level[0]
    }

    #[test]
    fn hash_pair_is_commutative_and_sorted() {
        let (a, b) = (keccak256(b"a"), keccak256(b"b"));
        assert_eq!(hash_pair(&a, &b), hash_pair(&b, &a));
        let (lo, hi) = if a < b { (a, b) } else { (b, a) };
        assert_eq!(hash_pair(&a, &b), keccak256(&[lo, hi].concat()));
    }

    #[test]
    fn one_leaf_is_its_own_root() {
        let t = MerkleTree::new(&leaves(1)).unwrap();
        assert_eq!(t.root(), leaves(1)[0]);
        assert!(t.proof(0).unwrap().is_empty());
        assert!(verify(&t.leaf(0).unwrap(), &[], &t.root()).unwrap());
    }

    #[test]
    fn empty_and_out_of_range_are_errors() {
        assert_eq!(MerkleTree::new(&[]), Err(MerkleError::Empty));
        let t = MerkleTree::new(&leaves(3)).unwrap();
        assert_eq!(
            t.proof(3),
            Err(MerkleError::IndexOutOfRange { index: 3, len: 3 })
        );
    }

    #[test]
    fn three_and_five_leaves_follow_the_openzeppelin_layout() {
        let l = leaves(5);
        // n = 3: [root, h(l0, l1), l2, l1, l0]
        let t3 = MerkleTree::new(&l[..3]).unwrap();
        assert_eq!(t3.root(), hash_pair(&hash_pair(&l[0], &l[1]), &l[2]));
        // n = 5: node 3 = h(l1, l0), node 2 = h(l3, l2), node 1 = h(node 3, l4).
        let t5 = MerkleTree::new(&l).unwrap();
        let n1 = hash_pair(&hash_pair(&l[0], &l[1]), &l[4]);
        assert_eq!(t5.root(), hash_pair(&n1, &hash_pair(&l[2], &l[3])));
        assert_eq!(t5.proof(4).unwrap().len(), 2);
        assert_eq!(t5.proof(0).unwrap().len(), 3);
    }

    #[test]
    fn powers_of_two_match_the_levelled_tree() {
        for n in [2, 4, 8, 1024, 8192] {
            let l = leaves(n);
            assert_eq!(
                MerkleTree::new(&l).unwrap().root(),
                levelled_root(&l),
                "n={n}"
            );
        }
    }

    #[test]
    fn parallel_levels_give_the_same_tree() {
        // 10_001 leaves: the bottom levels are large enough to run in parallel.
        let l = leaves(10_001);
        let t = MerkleTree::new(&l).unwrap();
        for (i, p) in t.proofs().iter().enumerate().step_by(97) {
            assert!(verify(&l[i], p, &t.root()).unwrap());
            assert_eq!(p.len(), proof_len(l.len(), i));
        }
    }

    #[test]
    fn overlong_proof_is_an_error() {
        let p = vec![[0u8; 32]; MAX_PROOF_LEN + 1];
        assert_eq!(
            verify(&[0; 32], &p, &[0; 32]),
            Err(MerkleError::ProofTooLong(33))
        );
        assert!(to_hash32(&[1, 2, 3], || "leaf 0".into()).is_err());
    }

    proptest! {
        #[test]
        fn every_proof_verifies_and_tampering_fails(n in 1usize..200, pick in any::<prop::sample::Index>()) {
            let l = leaves(n);
            let t = MerkleTree::new(&l).unwrap();
            let i = pick.index(n);
            let p = t.proof(i).unwrap();
            prop_assert_eq!(p.len(), proof_len(n, i));
            prop_assert!(verify(&l[i], &p, &t.root()).unwrap());
            let mut wrong = l[i];
            wrong[0] ^= 1;
            prop_assert!(!verify(&wrong, &p, &t.root()).unwrap());
            if let Some(first) = p.first() {
                let mut q = p.clone();
                q[0] = { let mut x = *first; x[31] ^= 0x80; x };
                prop_assert!(!verify(&l[i], &q, &t.root()).unwrap());
            }
        }
    }
}
