"""coordinator/ai/local.py: the extractive summary provider."""

from __future__ import annotations

import pytest

from coordinator.ai.local import MAX_INPUT_CHARS, PROVIDER, split_sentences, summarize

TEXT = (
    "The invoice from Acme Corp lists three pumps for the water plant. "
    "Each pump costs 1200 EUR and the invoice is due in thirty days. "
    "The weather was pleasant on the day of delivery. "
    "Acme Corp asks that the invoice for the pumps be paid by bank transfer. "
    "A copy of the invoice goes to the plant manager. "
    "Lunch was served at noon in the canteen."
)


def _in_document_order(summary: str, text: str) -> list[int]:
    """Indices of the text's sentences that make up the summary, in summary order."""
    sentences = split_sentences(text)
    picked: list[int] = []
    rest = summary
    while rest:
        for i, s in enumerate(sentences):
            if rest == s or rest.startswith(s + " "):
                picked.append(i)
                rest = rest[len(s) :].lstrip(" ")
                break
        else:
            raise AssertionError(f"summary part {rest!r} is not a sentence of the text")
    return picked


def test_split_sentences() -> None:
    text = "First one is here. second stays joined? Yes it does!\nNew line starts here.\n\nNo."
    assert split_sentences(text) == [
        "First one is here. second stays joined?",
        "Yes it does!",
        "New line starts here.",
    ]


@pytest.mark.parametrize("max_sentences", [1, 2, 3, 5, 20])
def test_summary_sentences_are_from_the_text_in_order(max_sentences: int) -> None:
    result = summarize(TEXT, max_sentences=max_sentences, max_chars=10_000)
    assert result["provider"] == PROVIDER == "local"
    picked = _in_document_order(result["summary"], TEXT)
    assert picked == sorted(picked)
    assert len(set(picked)) == len(picked)
    assert len(picked) == result["sentences"] == min(max_sentences, len(split_sentences(TEXT)))


def test_summary_prefers_the_central_sentences() -> None:
    summary = summarize(TEXT, max_sentences=2)["summary"]
    assert "weather" not in summary
    assert "Lunch" not in summary
    assert "invoice" in summary


def test_document_order_even_when_a_late_sentence_scores_highest() -> None:
    text = (
        "Opening words about nothing much at all today. "
        "Filler sentence without any shared content here. "
        "Another unrelated remark concerning lunch plans. "
        "Pumps pumps pumps need pumps and more pumps. "
        "Pumps matter because pumps move water through pumps."
    )
    result = summarize(text, max_sentences=2)
    picked = _in_document_order(result["summary"], text)
    assert picked == [3, 4]


@pytest.mark.parametrize("max_chars", [1, 10, 40, 100, 200])
def test_max_chars_is_respected(max_chars: int) -> None:
    summary = summarize(TEXT, max_sentences=5, max_chars=max_chars)["summary"]
    assert len(summary) <= max_chars
    assert summary.endswith("…")


def test_max_chars_boundary() -> None:
    full = summarize(TEXT, max_sentences=5, max_chars=10_000)["summary"]
    assert summarize(TEXT, max_sentences=5, max_chars=len(full))["summary"] == full
    cut = summarize(TEXT, max_sentences=5, max_chars=len(full) - 1)["summary"]
    assert len(cut) <= len(full) - 1
    assert cut.endswith("…")
    assert full.startswith(cut[:-1])


def test_summary_within_max_chars_is_not_cut() -> None:
    summary = summarize(TEXT, max_sentences=1, max_chars=10_000)["summary"]
    assert not summary.endswith("…")
    assert summary in TEXT


def test_empty_text() -> None:
    assert summarize("") == {"summary": "", "sentences": 0, "provider": "local"}
    assert summarize("   \n\t ") == {"summary": "", "sentences": 0, "provider": "local"}


def test_short_text_falls_back_to_its_words() -> None:
    assert summarize("Hello  world") == {
        "summary": "Hello world",
        "sentences": 1,
        "provider": "local",
    }


def test_fallback_keeps_at_most_60_words() -> None:
    text = " ".join(["1234"] * 100)  # numbers are no words: no sentence qualifies
    result = summarize(text)
    assert result["summary"] == " ".join(["1234"] * 60)
    assert result["sentences"] == 1


def test_text_of_only_stop_words() -> None:
    result = summarize("It is what it is. And so it was for them.")
    assert result["sentences"] >= 1
    assert result["summary"].startswith("It is what it is.")


def test_input_is_capped() -> None:
    tail = "Zebras wander across distant savannah plains."
    text = "x " * MAX_INPUT_CHARS + tail
    result = summarize(text)
    assert "Zebras" not in result["summary"]


@pytest.mark.parametrize("max_sentences", [0, -1, 21, 2.5, "3", None, True])
def test_bad_max_sentences(max_sentences: object) -> None:
    with pytest.raises(ValueError, match="max_sentences"):
        summarize(TEXT, max_sentences=max_sentences)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", [None, b"bytes", 42])
def test_text_must_be_a_string(text: object) -> None:
    with pytest.raises(ValueError, match="text is"):
        summarize(text)  # type: ignore[arg-type]
