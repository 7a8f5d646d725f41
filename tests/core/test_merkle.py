"""dwc_core.MerkleTree against an independent pure-Python implementation.

The reference below follows OpenZeppelin's ``@openzeppelin/merkle-tree`` (``core.ts``):
sorted-pair keccak256 over a complete binary tree stored in an array, leaf ``i`` at
``len - 1 - i``. keccak256 comes from pycryptodome, not from dwc_core.
"""

from __future__ import annotations

import json
import random

import pytest
from Crypto.Hash import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

import dwc_core
from dwc_core import MerkleTree, verify_proof, verify_proof_json


def k256(data: bytes) -> bytes:
    return keccak.new(digest_bits=256, data=data).digest()


def hash_pair(a: bytes, b: bytes) -> bytes:
    return k256(min(a, b) + max(a, b))


def ref_tree(leaves: list[bytes]) -> list[bytes]:
    tree: list[bytes] = [b""] * (2 * len(leaves) - 1)
    for i, leaf in enumerate(leaves):
        tree[len(tree) - 1 - i] = leaf
    for i in range(len(tree) - 1 - len(leaves), -1, -1):
        tree[i] = hash_pair(tree[2 * i + 1], tree[2 * i + 2])
    return tree


def ref_proof(tree: list[bytes], leaf_index: int) -> list[bytes]:
    i = len(tree) - 1 - leaf_index
    proof = []
    while i > 0:
        proof.append(tree[i + 1] if i % 2 == 1 else tree[i - 1])
        i = (i - 1) // 2
    return proof


def ref_process_proof(leaf: bytes, proof: list[bytes]) -> bytes:
    """OpenZeppelin's ``MerkleProof.processProof``."""
    node = leaf
    for sibling in proof:
        node = hash_pair(node, sibling)
    return node


def random_leaves(rng: random.Random, n: int) -> list[bytes]:
    return [k256(rng.randbytes(rng.randrange(0, 80))) for _ in range(n)]


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6, 7, 8, 9, 15, 16, 17, 31, 33, 100, 257])
def test_matches_reference_on_every_size(n: int) -> None:
    leaves = random_leaves(random.Random(n), n)
    tree = MerkleTree(leaves)
    ref = ref_tree(leaves)
    assert tree.root == ref[0]
    assert len(tree) == n
    assert tree.proofs() == [ref_proof(ref, i) for i in range(n)]
    for i in range(n):
        assert tree.leaf(i) == leaves[i]
        assert tree.proof(i) == ref_proof(ref, i)
        assert ref_process_proof(leaves[i], tree.proof(i)) == tree.root
        assert verify_proof(leaves[i], tree.proof(i), tree.root)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=300), st.data())
def test_random_trees_match_reference(leaves: list[bytes], data: st.DataObject) -> None:
    tree = MerkleTree(leaves)
    ref = ref_tree(leaves)
    assert tree.root == ref[0]
    i = data.draw(st.integers(0, len(leaves) - 1))
    assert tree.proof(i) == ref_proof(ref, i)
    assert verify_proof(leaves[i], tree.proof(i), tree.root)


def test_openzeppelin_readme_vector() -> None:
    # The StandardMerkleTree example of @openzeppelin/merkle-tree: two (address, uint256)
    # values, leaf = keccak256(keccak256(abi.encode(value))), leaves sorted.
    def encode(address: str, amount: int) -> bytes:
        return bytes(12) + bytes.fromhex(address[2:]) + amount.to_bytes(32, "big")

    values = [
        ("0x1111111111111111111111111111111111111111", 5000000000000000000),
        ("0x2222222222222222222222222222222222222222", 2500000000000000000),
    ]
    leaves = sorted(k256(k256(encode(*v))) for v in values)
    root = "0xd4dee0beab2d53f2cc83e567171bd2820e49898130a22622b10ead383e90bd77"
    assert MerkleTree(leaves).root_hex == root


def test_one_leaf_is_the_root_with_an_empty_proof() -> None:
    leaf = k256(b"only")
    tree = MerkleTree([leaf])
    assert tree.root == leaf
    assert tree.proof(0) == []
    assert tree.proofs() == [[]]
    assert verify_proof(leaf, [], leaf)
    assert verify_proof_json(tree.proof_json(0), leaf)


def test_wrong_proofs_are_false() -> None:
    leaves = random_leaves(random.Random(7), 10)
    tree = MerkleTree(leaves)
    proof = tree.proof(3)
    assert not verify_proof(leaves[4], proof, tree.root)
    assert not verify_proof(leaves[3], proof[:-1], tree.root)
    assert not verify_proof(leaves[3], [*proof, proof[0]], tree.root)
    assert not verify_proof(leaves[3], proof, k256(b"other root"))


def test_negative_and_out_of_range_indices() -> None:
    leaves = random_leaves(random.Random(1), 5)
    tree = MerkleTree(leaves)
    assert tree.leaf(-1) == leaves[4]
    assert tree.proof(-5) == tree.proof(0)
    for bad in (5, -6, 2**40):
        with pytest.raises(IndexError, match="out of range"):
            tree.proof(bad)
        with pytest.raises(IndexError):
            tree.leaf(bad)
        with pytest.raises(IndexError):
            tree.proof_json(bad)


@pytest.mark.parametrize(
    ("leaves", "exc", "match"),
    [
        ([], ValueError, "at least one leaf"),
        ([b"\x00" * 31], ValueError, r"leaves\[0\] must be 32 bytes, got 31"),
        ([b"\x00" * 32, b"\x00" * 33], ValueError, r"leaves\[1\] must be 32 bytes, got 33"),
        ([b"\x00" * 32, "00" * 32], TypeError, "must be bytes"),
        (b"\x00" * 32, TypeError, "not one bytes object"),
    ],
)
def test_bad_leaves(leaves: object, exc: type[Exception], match: str) -> None:
    with pytest.raises(exc, match=match):
        MerkleTree(leaves)  # type: ignore[arg-type]


def test_verify_proof_rejects_bad_lengths() -> None:
    h = k256(b"x")
    with pytest.raises(ValueError, match=r"proof\[1\] must be 32 bytes"):
        verify_proof(h, [h, h[:-1]], h)
    with pytest.raises(ValueError, match="leaf must be 32 bytes"):
        verify_proof(h + b"\x00", [h], h)
    with pytest.raises(ValueError, match="root must be 32 bytes"):
        verify_proof(h, [h], b"")
    with pytest.raises(ValueError, match="more than the 32"):
        verify_proof(h, [h] * 33, h)


def test_proof_json_is_stable_and_verifies() -> None:
    leaves = random_leaves(random.Random(3), 5)
    tree = MerkleTree(leaves)
    text = tree.proof_json(2)
    assert text == tree.proof_json(2)
    doc = json.loads(text)
    assert list(doc) == ["format", "leaf_count", "index", "leaf", "proof", "root"]
    assert doc["format"] == "dwc-merkle-proof/1"
    assert doc["leaf_count"] == 5
    assert doc["index"] == 2
    assert doc["leaf"] == "0x" + leaves[2].hex()
    assert doc["proof"] == ["0x" + p.hex() for p in tree.proof(2)]
    assert doc["root"] == tree.root_hex == "0x" + tree.root.hex()
    assert json.dumps(doc, separators=(",", ":")) == text
    assert verify_proof_json(text, tree.root)
    assert not verify_proof_json(text, k256(b"another root"))


def _mutate(text: str, **changes: object) -> str:
    doc = json.loads(text)
    doc.update(changes)
    return json.dumps(doc, separators=(",", ":"))


def test_proof_json_bad_documents() -> None:
    tree = MerkleTree(random_leaves(random.Random(4), 5))
    text = tree.proof_json(4)  # a 2-node proof
    proof = json.loads(text)["proof"]
    cases = {
        "wrong length": (_mutate(text, proof=proof[:1]), "proof has 1 nodes, expected 2"),
        "too long": (_mutate(text, proof=[*proof, proof[0]]), "expected 2"),
        "short hash": (_mutate(text, leaf="0x1234"), "leaf must be 32 bytes"),
        "not hex": (_mutate(text, root="0x" + "zz" * 32), "root is not hex"),
        "no 0x": (_mutate(text, root=tree.root.hex()), "must start with 0x"),
        "index": (_mutate(text, index=5), "out of range"),
        "zero leaves": (_mutate(text, leaf_count=0), "leaf_count=0"),
        "format": (_mutate(text, format="other/1"), "format"),
        "extra key": (_mutate(text, extra=1), "unknown field"),
        "not json": ("{", "invalid Merkle proof JSON"),
    }
    for name, (bad, match) in cases.items():
        with pytest.raises(ValueError, match=match):
            verify_proof_json(bad, tree.root)
        assert name


def test_upper_case_hex_is_accepted() -> None:
    tree = MerkleTree(random_leaves(random.Random(5), 3))
    doc = json.loads(tree.proof_json(0))
    upper = _mutate(
        tree.proof_json(0),
        leaf="0x" + doc["leaf"][2:].upper(),
        proof=["0x" + p[2:].upper() for p in doc["proof"]],
    )
    assert verify_proof_json(upper, tree.root)


def test_keccak_leaves_from_dwc_core_agree_with_pycryptodome() -> None:
    data = [b"", b"a", "ünïcode".encode(), bytes(range(256))]
    assert [dwc_core.keccak256(d) for d in data] == [k256(d) for d in data]


@pytest.mark.slow
def test_large_parallel_tree_matches_reference() -> None:
    leaves = random_leaves(random.Random(11), 20_001)
    tree = MerkleTree(leaves)
    ref = ref_tree(leaves)
    assert tree.root == ref[0]
    proofs = tree.proofs()
    for i in range(0, len(leaves), 997):
        assert proofs[i] == ref_proof(ref, i)
