"""``detect_pii`` and ``redact``: personal data in a text.

Built-in kinds, each a pattern plus a check that keeps false positives down:

- ``email``: local part and domain, the top-level domain all letters;
- ``iban``: country code, check digits and account (upper case, spaces allowed between
  characters); the length must be the country's (for the countries in ``IBAN_LENGTHS``;
  15 to 34 characters elsewhere) and the ISO 13616 mod-97 check must give 1;
- ``card``: 13 to 19 digits, in groups split by single spaces or dashes (every group
  but the last of 3 digits or more), with the prefix and length of a card network (Visa, Mastercard, American Express, Discover, JCB, Diners,
  UnionPay, Maestro: ``CARD_NETWORKS``) and passing the Luhn check;
- ``phone``: an international number (``+`` or ``00``, 8 to 15 digits), a national one
  starting with ``0`` (9 to 12 digits, not a date), or a North American ``(555) 123-4567``
  / ``555-123-4567`` (10 digits). Separators: space, dot, dash, parentheses.

Configurable kinds come from the step's ``patterns`` map (kind name -> regular
expression). Kinds are searched in a fixed order (email, iban, card, phone, then the
configured patterns in the order given) and a match overlapping one found earlier is
dropped, so a card number is never also reported as a phone number. Nothing inside an
IBAN-shaped string that fails its check is reported either (its digits are not a phone
number).

Spans are character offsets into the text (``start`` inclusive, ``end`` exclusive). The
matched values are not put in the output, so committing or sending the output does not
spread the data it reports. ``redact`` replaces each span with ``[KIND]``
(``[EMAIL]``, ``[IBAN]``, ``[EMPLOYEE_ID]`` ...).

Configured patterns run on Python's ``re``, which has no time limit: a pathological
pattern can be slow on a long text (the step's timeout stops waiting for it, not the
thread). Patterns are limited in length, must compile and must not match the empty
string.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal

from pydantic import AfterValidator, Field, StringConstraints, model_validator

from agent.workflow.steps.base import ExprStr, Params, StepContext, StepType

__all__ = [
    "BUILTIN_KINDS",
    "CARD_NETWORKS",
    "DETECT_PII",
    "IBAN_LENGTHS",
    "REDACT",
    "PiiParams",
    "Span",
    "card_network_ok",
    "find_pii",
    "iban_valid",
    "luhn_valid",
    "redact_text",
]

BuiltinKind = Literal["email", "iban", "card", "phone"]
BUILTIN_KINDS: Final[tuple[BuiltinKind, ...]] = ("email", "iban", "card", "phone")

# ISO 13616 lengths of the countries most often met (SWIFT IBAN registry).
IBAN_LENGTHS: Final = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22,
    "BH": 22, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28,
    "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20,
    "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24,
    "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24,
    "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24, "SE": 24,
    "SI": 19, "SK": 24, "SM": 27, "TN": 24, "TR": 26, "UA": 29, "VG": 24, "XK": 20,
}  # fmt: skip

MAX_PATTERN_CHARS: Final = 512


@dataclass(frozen=True, order=True)
class Span:
    start: int
    end: int
    kind: str

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "start": self.start, "end": self.end}


# --- checksums -----------------------------------------------------------------------------


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) check of a string of digits."""
    if not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def iban_valid(iban: str) -> bool:
    """Country length (where known) and the ISO 13616 mod-97 check, spaces ignored."""
    s = iban.replace(" ", "")
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}", s):
        return False
    expected = IBAN_LENGTHS.get(s[:2])
    if expected is not None and len(s) != expected:
        return False
    rearranged = s[4:] + s[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


# --- detectors -------------------------------------------------------------------------------

_EMAIL = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9._%+-]{1,64}@(?:[A-Za-z0-9-]{1,63}\.){1,8}[A-Za-z]{2,24}(?![\w-])"
)
_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}")
_DIGIT_RUN = re.compile(r"(?<![\w-])\d+(?:[ -]\d+)*")
_DIGITS = re.compile(r"\d+")
_PHONE = re.compile(
    r"(?<![\w+])(?<!\d[ .-])(?:"  # not inside a longer run of digit groups
    r"(?:\+|00)\d[\d ().-]{5,22}\d"  # international
    r"|\(?0\d[\d ().-]{5,18}\d"  # national, trunk prefix 0
    r"|\(?\d{3}\)?[ .-]\d{3}[ .-]\d{4}"  # North American
    r")(?!\w)"
)
_DATE = re.compile(r"\(?\d{1,4}[./-]\d{1,2}[./-]\d{1,4}\)?")
_SEPARATORS = frozenset(" .-()")


def _group_ends(text: str, start: int, end: int) -> Iterator[int]:
    """End positions of ``text[start:end]`` cut after its last, second-last ... digit
    group (groups are split by separators), longest first."""
    yield end
    for i in range(end - 1, start, -1):
        if text[i] in _SEPARATORS and text[i - 1].isalnum():
            yield i


def _first_valid(
    text: str, start: int, end: int, valid: Callable[[str], bool]
) -> tuple[int, int] | None:
    for e in _group_ends(text, start, end):
        if valid(text[start:e]):
            return start, e
    return None


# (first digits low, high, lengths): issuer identification ranges of the card networks
CARD_NETWORKS: Final = (
    ("4", "4", (13, 16, 19)),  # Visa
    ("51", "55", (16,)),  # Mastercard
    ("2221", "2720", (16,)),  # Mastercard
    ("34", "34", (15,)),  # American Express
    ("37", "37", (15,)),  # American Express
    ("6011", "6011", (16, 17, 18, 19)),  # Discover
    ("644", "649", (16, 17, 18, 19)),  # Discover
    ("65", "65", (16, 17, 18, 19)),  # Discover
    ("3528", "3589", (16, 17, 18, 19)),  # JCB
    ("300", "305", (14, 15, 16, 17, 18, 19)),  # Diners Club
    ("36", "36", (14, 15, 16, 17, 18, 19)),  # Diners Club
    ("38", "39", (16, 17, 18, 19)),  # Diners Club
    ("62", "62", (16, 17, 18, 19)),  # UnionPay
    ("50", "50", (13, 14, 15, 16, 17, 18, 19)),  # Maestro
    ("56", "58", (13, 14, 15, 16, 17, 18, 19)),  # Maestro
    ("63", "63", (13, 14, 15, 16, 17, 18, 19)),  # Maestro
    ("67", "67", (13, 14, 15, 16, 17, 18, 19)),  # Maestro
)


def card_network_ok(digits: str) -> bool:
    """Whether ``digits`` has the prefix and length of a known card network."""
    for low, high, lengths in CARD_NETWORKS:
        if len(digits) in lengths and low <= digits[: len(low)] <= high:
            return True
    return False


def _emails(text: str) -> Iterator[tuple[int, int]]:
    for m in _EMAIL.finditer(text):
        yield m.span()


def _ibans(text: str) -> Iterator[tuple[int, int]]:
    """Valid IBANs; an IBAN-shaped string that fails its check is yielded as a
    negative span (-start-1, end) so nothing inside it is reported as another kind.
    The search goes on right after each one, so adjacent IBANs are all seen."""
    pos = 0
    while (m := _IBAN.search(text, pos)) is not None:
        start, end = m.span()
        expected = IBAN_LENGTHS.get(m.group()[:2])
        found: tuple[int, int] | None = None
        if expected is not None:
            # cut after the country's number of characters, so a following upper-case
            # word or number is not taken as part of it
            count, cut = 0, end
            for i in range(start, end):
                if text[i] != " ":
                    count += 1
                    if count == expected:
                        cut = i + 1
                        break
            end = cut
            fits = count == expected and not (cut < len(text) and text[cut].isalnum())
            if fits and iban_valid(text[start:cut]):
                found = (start, cut)
        else:
            found = _first_valid(text, start, end, iban_valid)
        yield found if found else (-start - 1, end)
        pos = found[1] if found else end


def _phone_ok(s: str) -> bool:
    if s.count("(") != s.count(")") or _DATE.fullmatch(s):
        return False
    if re.search(r"[ .-]{2,}", s):
        return False
    digits = re.sub(r"\D", "", s)
    if s.startswith("+"):  # country codes do not start with 0
        return 8 <= len(digits) <= 15 and digits[0] != "0"
    if s.startswith("00"):
        return 8 <= len(digits) - 2 <= 15 and digits[2] != "0"
    if s.lstrip("(").startswith("0"):
        return 9 <= len(digits) <= 12
    return len(digits) == 10


def _cards(text: str) -> Iterator[tuple[int, int]]:
    """Card numbers inside runs of digit groups (separated by one space or dash).

    A card starts at a group and ends at a later group's end; every group but the last
    has at least 3 digits (4-4-4-4, 4-6-5, 4-6-4 ...), so the scan stays linear even on
    hostile input like "1 1 1 1 ...". The longest valid card from a group wins, and
    the scan goes on after it, so a card right after another number is found too."""
    for run in _DIGIT_RUN.finditer(text):
        base, value = run.start(), run.group()
        groups = [g.span() for g in _DIGITS.finditer(value)]
        glued = run.end() < len(text) and (text[run.end()].isalnum() or text[run.end()] == "_")
        i = 0
        while i < len(groups):
            best: int | None = None
            digits = ""
            for j in range(i, len(groups)):
                if j > i and groups[j - 1][1] - groups[j - 1][0] < 3:
                    break
                digits += value[groups[j][0] : groups[j][1]]
                if len(digits) > 19:
                    break
                if (
                    len(digits) >= 13
                    and not (glued and j == len(groups) - 1)
                    and card_network_ok(digits)
                    and luhn_valid(digits)
                ):
                    best = j
            if best is None:
                i += 1
                continue
            yield base + groups[i][0], base + groups[best][1]
            i = best + 1


def _phones(text: str) -> Iterator[tuple[int, int]]:
    for m in _PHONE.finditer(text):
        found = _first_valid(text, *m.span(), _phone_ok)
        if found:
            yield found


_DETECTORS: Final[dict[str, Callable[[str], Iterator[tuple[int, int]]]]] = {
    "email": _emails,
    "iban": _ibans,
    "card": _cards,
    "phone": _phones,
}


def find_pii(
    text: str,
    kinds: Sequence[str] = BUILTIN_KINDS,
    patterns: dict[str, re.Pattern[str]] | None = None,
) -> list[Span]:
    """Non-overlapping spans of personal data in ``text``, ordered by position."""
    accepted: list[tuple[int, int]] = []  # sorted, non-overlapping
    spans: list[Span] = []

    def take(kind: str, start: int, end: int) -> None:
        i = bisect.bisect_left(accepted, (start, end))
        if i > 0 and accepted[i - 1][1] > start:
            return
        if i < len(accepted) and accepted[i][0] < end:
            return
        accepted.insert(i, (start, end))
        if kind:
            spans.append(Span(start, end, kind))

    for kind in BUILTIN_KINDS:
        if kind in kinds:
            for start, end in _DETECTORS[kind](text):
                if start < 0:  # claimed, not reported (a failed IBAN)
                    take("", -start - 1, end)
                else:
                    take(kind, start, end)
    for name, pattern in (patterns or {}).items():
        for m in pattern.finditer(text):
            if m.end() > m.start():
                take(name, m.start(), m.end())
    return sorted(spans)


def redact_text(text: str, spans: list[Span]) -> str:
    """``text`` with each span replaced by ``[KIND]``; spans must not overlap."""
    parts: list[str] = []
    last = 0
    for span in sorted(spans):
        parts.append(text[last : span.start])
        parts.append(f"[{span.kind.upper()}]")
        last = span.end
    parts.append(text[last:])
    return "".join(parts)


# --- parameters and steps ------------------------------------------------------------------


def _check_pattern(source: str) -> str:
    try:
        pattern = re.compile(source)
    except re.error as e:
        raise ValueError(f"not a valid regular expression: {e}") from None
    if pattern.fullmatch(""):
        raise ValueError("pattern matches the empty string")
    return source


KindName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
Pattern = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_PATTERN_CHARS),
    AfterValidator(_check_pattern),
]


class PiiParams(Params):
    kinds: list[BuiltinKind] = Field(default_factory=lambda: list(BUILTIN_KINDS))
    """Built-in kinds to look for (default: all four)."""
    patterns: dict[KindName, Pattern] = Field(default_factory=dict, max_length=32)
    """Extra kinds: kind name -> regular expression."""
    text: ExprStr | None = None
    """Expression giving the text; default: the nearest upstream text."""
    max_spans: int = Field(10_000, ge=1, le=1_000_000)
    """At most this many spans are reported (``truncated`` says when more were found)."""

    def expressions(self) -> list[tuple[tuple[str | int, ...], str]]:
        return [(("text",), self.text)] if self.text is not None else []

    @model_validator(mode="after")
    def _no_clash(self) -> PiiParams:
        clash = sorted(set(self.patterns) & set(BUILTIN_KINDS))
        if clash:
            raise ValueError(f"patterns redefine built-in kinds: {', '.join(clash)}")
        return self

    def find(self, text: str) -> list[Span]:
        compiled = {kind: re.compile(src) for kind, src in self.patterns.items()}
        return find_pii(text, self.kinds, compiled)


def _counts(spans: list[Span]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for s in spans:
        counts[s.kind] = counts.get(s.kind, 0) + 1
    return counts


def run_detect(ctx: StepContext, p: PiiParams) -> dict[str, Any]:
    spans = p.find(ctx.text(p.text))
    return {
        "count": len(spans),
        "kinds": _counts(spans),
        "spans": [s.as_dict() for s in spans[: p.max_spans]],
        "truncated": len(spans) > p.max_spans,
    }


def run_redact(ctx: StepContext, p: PiiParams) -> dict[str, Any]:
    text = ctx.text(p.text)
    spans = p.find(text)
    redacted = redact_text(text, spans)
    return {"text": redacted, "chars": len(redacted), "count": len(spans), "kinds": _counts(spans)}


DETECT_PII = StepType(
    "detect_pii", PiiParams, run_detect, "find emails, phones, IBANs, cards and patterns"
)
REDACT = StepType("redact", PiiParams, run_redact, "replace personal data with [KIND]")
