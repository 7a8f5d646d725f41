"""agent/workflow/steps/pii.py: detect_pii and redact, with checksum-validated IBANs and
card numbers."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.workflow.steps import StepContext
from agent.workflow.steps.pii import find_pii, iban_valid, luhn_valid, redact_text

Step = Callable[[str, dict[str, Any], StepContext], dict[str, Any]]


def found(text: str, **kw: Any) -> list[tuple[str, str]]:
    return [(s.kind, text[s.start : s.end]) for s in find_pii(text, **kw)]


def _with_check_digits(country: str, bban: str) -> str:
    digits = "".join(str(int(c, 36)) for c in bban + country + "00")
    return f"{country}{98 - int(digits) % 97:02d}{bban}"


VALID_IBANS = [
    "DE89370400440532013000",
    "DE89 3704 0044 0532 0130 00",
    "GB82WEST12345698765432",
    "FR14 2004 1010 0505 0001 3M02 606",
    "NL91ABNA0417164300",
    "CH9300762011623852957",
    "BE68539007547034",
    "NO9386011117947",
    _with_check_digits("ZZ", "ABCD1234567890"),  # a country not in the length table
]
INVALID_IBANS = [
    "DE89370400440532013001",  # mod-97 fails
    "DE88370400440532013000",  # wrong check digits
    "DE8937040044053201300",  # one character short for DE
    "GB82WEST1234569876543X",  # mod-97 fails
]
VALID_CARDS = [
    "4111111111111111",
    "4111 1111 1111 1111",
    "4111-1111-1111-1111",
    "5555555555554444",
    "378282246310005",
    "3782 822463 10005",
    "6011111111111117",
    "3530111333300000",
    "30569309025904",
    "4012888888881881",
]
INVALID_CARDS = [
    "4111111111111112",  # Luhn fails
    "5555555555554445",  # Luhn fails
    "0000000000000000",  # Luhn passes, no card network
    "1234567812345670",  # Luhn passes, no card network
    "37828224631000",  # Amex prefix, wrong length
]


@pytest.mark.parametrize("iban", VALID_IBANS)
def test_valid_ibans_are_found(iban: str) -> None:
    assert iban_valid(iban)
    text = f"Pay to {iban}, thanks."
    assert found(text) == [("iban", iban)]


@pytest.mark.parametrize("iban", INVALID_IBANS)
def test_ibans_failing_their_check_are_not(iban: str) -> None:
    assert not iban_valid(iban)
    assert found(f"Pay to {iban}, thanks.") == []


def test_an_iban_followed_by_upper_case_words_and_numbers() -> None:
    text = "IBAN DE89 3704 0044 0532 0130 00 EUR 1200 due"
    assert found(text) == [("iban", "DE89 3704 0044 0532 0130 00")]
    # glued to more characters: not an IBAN
    assert found("DE89370400440532013000X") == []


def test_nothing_inside_a_bad_iban_is_reported() -> None:
    # the digits of a bad IBAN look like an international phone number (0044 ...)
    assert found("bad DE89 3704 0044 0532 0130 01 here") == []


@pytest.mark.parametrize("card", VALID_CARDS)
def test_valid_cards_are_found(card: str) -> None:
    assert luhn_valid(card.replace(" ", "").replace("-", ""))
    assert found(f"card {card} exp 12/27") == [("card", card)]


@pytest.mark.parametrize("card", INVALID_CARDS)
def test_invalid_cards_are_not(card: str) -> None:
    assert found(f"card {card} exp 12/27") == []


def test_a_card_followed_by_a_year() -> None:
    assert found("4111 1111 1111 1111 2027") == [("card", "4111 1111 1111 1111")]


def test_luhn() -> None:
    assert luhn_valid("79927398713")
    assert not luhn_valid("79927398710")
    assert not luhn_valid("")
    assert not luhn_valid("12a4")


@pytest.mark.parametrize(
    "email", ["anna.schmidt@example.de", "a.b+tag@sub.example.co.uk", "x_y%z@host-1.example.org"]
)
def test_emails(email: str) -> None:
    assert found(f"write to <{email}>.") == [("email", email)]


@pytest.mark.parametrize("text", ["user@localhost", "@example.com", "a@b.c", "name at example.com"])
def test_not_emails(text: str) -> None:
    assert found(text) == []


@pytest.mark.parametrize(
    "phone",
    [
        "+49 30 1234567",
        "+1 (555) 123-4567",
        "0044 20 7946 0958",
        "(555) 123-4567",
        "555-123-4567",
        "555.123.4567",
        "030 1234 5678",
        "(030) 1234-5678",
    ],
)
def test_phones(phone: str) -> None:
    assert found(f"call {phone} today") == [("phone", phone)]


@pytest.mark.parametrize(
    "text",
    [
        "on 2024-01-15",
        "on 01.02.2024",
        "total 1234567.89",
        "at 12:30",
        "ISBN 978-3-16-148410-0",
        "MPAN: 13 1000 0477 2219 8",
        "+49 12",
        "order 0123",
    ],
)
def test_not_phones(text: str) -> None:
    assert found(text) == []


def test_kinds_and_patterns() -> None:
    import re

    text = "EMP-123456 mailed hr@example.com from +49 30 1234567"
    assert found(text, kinds=["email"]) == [("email", "hr@example.com")]
    assert found(text, kinds=[], patterns={"employee_id": re.compile(r"EMP-\d{6}")}) == [
        ("employee_id", "EMP-123456")
    ]


def test_detect_pii_step(step: Step, context: Callable[..., StepContext]) -> None:
    text = "Mail ap@acme.example, IBAN GB82 WEST 1234 5698 7654 32, card 4111111111111111, ref EMP-000042."
    out = step("detect_pii", {"patterns": {"employee_id": r"EMP-\d{6}"}}, context(text=text))
    assert out["count"] == 4
    assert out["kinds"] == {"email": 1, "iban": 1, "card": 1, "employee_id": 1}
    assert [(s["kind"], text[s["start"] : s["end"]]) for s in out["spans"]] == [
        ("email", "ap@acme.example"),
        ("iban", "GB82 WEST 1234 5698 7654 32"),
        ("card", "4111111111111111"),
        ("employee_id", "EMP-000042"),
    ]
    assert out["truncated"] is False
    # values are not in the output
    assert "ap@acme.example" not in repr(out)


def test_detect_pii_limits_spans(step: Step, context: Callable[..., StepContext]) -> None:
    text = " ".join(f"u{i}@example.com" for i in range(5))
    out = step("detect_pii", {"max_spans": 2}, context(text=text))
    assert out["count"] == 5
    assert len(out["spans"]) == 2
    assert out["truncated"] is True


def test_redact_step(step: Step, context: Callable[..., StepContext]) -> None:
    text = "Mail ap@acme.example or call +49 30 1234567; IBAN DE89370400440532013000; bad 4111111111111112; EMP-000042."
    out = step("redact", {"patterns": {"employee_id": r"EMP-\d{6}"}}, context(text=text))
    assert out["text"] == (
        "Mail [EMAIL] or call [PHONE]; IBAN [IBAN]; bad 4111111111111112; [EMPLOYEE_ID]."
    )
    assert out["count"] == 4
    assert out["chars"] == len(out["text"])


def test_redact_reads_an_expression(step: Step, context: Callable[..., StepContext]) -> None:
    ctx = context(text="unused", scope={"mail": {"body": "from x@example.org"}})
    assert step("redact", {"text": "mail.body"}, ctx)["text"] == "from [EMAIL]"


_pieces = st.sampled_from(
    [
        "4111 1111 1111 1111",
        "DE89 3704 0044 0532 0130 00",
        "GB82WEST12345698765432",
        "x@example.org",
        "+49 30 1234567",
        "0044",
        "12",
        " ",
        "-",
        ".",
        "(",
        ")",
        "@",
        "A",
        "z",
        "7",
        "\n",
    ]
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_pieces, max_size=30).map("".join))
def test_spans_never_overlap_and_pass_their_checks(text: str) -> None:
    spans = find_pii(text)
    for a, b in itertools.pairwise(spans):
        assert a.end <= b.start
    for s in spans:
        value = text[s.start : s.end]
        digits = value.replace(" ", "").replace("-", "")
        if s.kind == "iban":
            assert iban_valid(value)
        elif s.kind == "card":
            assert luhn_valid(digits)
    redacted = redact_text(text, spans)
    assert find_pii(redacted, kinds=["iban", "card"]) == []
