"""The local AI provider: extractive summaries with no model download and no network.

A sentence's score is the mean, over its content words, of each word's frequency in the
document (normalised by the most frequent word), with a small bonus for the first
sentences. The top ``max_sentences`` are returned in document order. Results are marked
``provider="local"`` so callers can tell them from a model's.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

PROVIDER = "local"
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[])|\n+")
_WORD = re.compile(r"[^\W\d_][\w'-]*", re.UNICODE)
_STOP = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "me",
        "more",
        "most",
        "my",
        "myself",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
        "shall",
        "may",
        "must",
        "per",
        "via",
    ]
)
MAX_INPUT_CHARS = 200_000


_WRAPPED = re.compile(r"(?<![.!?:;])\n(?=[a-z(,])")


def split_sentences(text: str) -> list[str]:
    """Sentences and stand-alone lines; a line break inside a sentence (hard-wrapped
    text) is joined first."""
    parts = (p.strip() for p in _SENTENCE_END.split(_WRAPPED.sub(" ", text)))
    return [p for p in parts if len(_WORD.findall(p)) >= 3]


def summarize(text: str, max_sentences: int = 3, max_chars: int = 600) -> dict[str, Any]:
    if not isinstance(text, str):
        raise ValueError(f"text is {type(text).__name__}, expected str")
    if not isinstance(max_sentences, int) or isinstance(max_sentences, bool):
        raise ValueError(f"max_sentences is {type(max_sentences).__name__}, expected int")
    if not 1 <= max_sentences <= 20:
        raise ValueError(f"max_sentences={max_sentences} must be between 1 and 20")
    text = text[:MAX_INPUT_CHARS]
    sentences = split_sentences(text)
    if not sentences:
        words = text.split()
        fallback = " ".join(words[:60])
        return {"summary": fallback, "sentences": 0 if not fallback else 1, "provider": PROVIDER}
    freq = Counter(
        w for s in sentences for w in (t.lower() for t in _WORD.findall(s)) if w not in _STOP
    )
    top = max(freq.values(), default=1)
    scored = []
    for i, s in enumerate(sentences):
        words = [w.lower() for w in _WORD.findall(s)]
        content = [w for w in words if w not in _STOP]
        score = sum(freq[w] / top for w in content) / (len(content) ** 0.8 if content else 1)
        score *= 1.15 if i < 2 else 1.0
        scored.append((score, i))
    keep = sorted(i for _, i in sorted(scored, reverse=True)[:max_sentences])
    summary = " ".join(sentences[i] for i in keep)
    if len(summary) > max_chars:
        summary = summary[: max_chars - 1].rsplit(" ", 1)[0] + "…"
    return {"summary": summary, "sentences": len(keep), "provider": PROVIDER}
