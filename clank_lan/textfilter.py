"""The lobby's text filter: a configurable word list applied in Medius's two filter modes.

Titles ask the server whether a clan name, game name or chat line is acceptable (TextFilter,
Lobby 0x98; TextFilter1, Ext 0x75) in one of two modes: pass/fail (the console refuses the text
itself) or replace (the server sends back a cleaned copy). Sony's word list is lost, so the list is
the operator's: empty by default, which passes everything, as every LAN server did so far.

Matching is whole-word and case-insensitive (``ass`` does not hit ``classic``); an entry may be
a phrase of several words, matched across any spaces or punctuation between them. Everything is
bounded (the number of words, their length, the text looked at), so a hostile list or text costs
at most a fixed amount of work.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from clank_lan.protocol.medius.enums import CallbackStatus, TextFilterType

#: At most this many words; more is a configuration error, not a silent truncation.
MAX_WORDS = 10_000
#: Longest word or phrase: the longest text a filter request carries (char[64]).
MAX_WORD_LEN = 64
#: Longest phrase, in words.
MAX_PHRASE_WORDS = 8
#: A word list file larger than this is refused before it is read.
MAX_FILE_BYTES = 1 << 20
#: Longest text looked at; the wire fields hold 64 characters, so this is generous.
MAX_TEXT_LEN = 256


class TextFilterError(ValueError):
    """A word list that cannot be used (too many or too long words, an unreadable file)."""


class TextFilter:
    """A compiled word list. ``TextFilter()`` (no words) passes every text unchanged.

    The text is split into words (runs of letters, digits and ``_``) and every run of one to
    ``MAX_PHRASE_WORDS`` consecutive words is looked up in a set, so the cost is linear in the
    text whatever the size of the list.
    """

    def __init__(self, words: Iterable[str] = (), *, mask: str = "*") -> None:
        if len(mask) != 1:
            raise TextFilterError("the mask must be one character")
        entries: set[tuple[str, ...]] = set()
        for raw in words:
            if len(raw) > MAX_WORD_LEN:
                raise TextFilterError(f"word longer than {MAX_WORD_LEN} characters: {raw[:20]!r}...")
            entry = tuple(_WORD.findall(raw.casefold()))
            if not entry:
                continue
            if len(entry) > MAX_PHRASE_WORDS:
                raise TextFilterError(f"phrase of more than {MAX_PHRASE_WORDS} words: {raw!r}")
            entries.add(entry)
            if len(entries) > MAX_WORDS:
                raise TextFilterError(f"more than {MAX_WORDS} words")
        self.words: frozenset[str] = frozenset(" ".join(e) for e in entries)
        self.mask = mask
        self._entries = frozenset(entries)
        self._longest = max((len(e) for e in entries), default=0)

    @classmethod
    def from_file(cls, path: Path, *, mask: str = "*") -> TextFilter:
        """One word or phrase per line; blank lines and ``#`` comments are skipped."""
        try:
            size = path.stat().st_size
            if size > MAX_FILE_BYTES:
                raise TextFilterError(f"{path}: {size} bytes, more than {MAX_FILE_BYTES}")
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise TextFilterError(f"{path}: {exc.strerror or exc}") from exc
        lines = (line.split("#", 1)[0] for line in text.splitlines())
        return cls(lines, mask=mask)

    def _spans(self, text: str) -> list[tuple[int, int]]:
        """(start, end) of every listed word or phrase in ``text[:MAX_TEXT_LEN]``, left to right,
        longest match first at each position, matches not overlapping."""
        if not self._entries:
            return []
        tokens = list(_WORD.finditer(text[:MAX_TEXT_LEN]))
        words = [t.group(0).casefold() for t in tokens]
        spans: list[tuple[int, int]] = []
        i = 0
        while i < len(tokens):
            for n in range(min(self._longest, len(tokens) - i), 0, -1):
                if tuple(words[i : i + n]) in self._entries:
                    spans.append((tokens[i].start(), tokens[i + n - 1].end()))
                    i += n
                    break
            else:
                i += 1
        return spans

    def hits(self, text: str) -> list[str]:
        """The listed words and phrases found in ``text``, as written there, in order."""
        return [text[a:b] for a, b in self._spans(text)]

    def passes(self, text: str) -> bool:
        return not self._spans(text)

    def clean(self, text: str) -> str:
        """``text`` with every listed word masked letter for letter (the length is kept)."""
        out = text
        for a, b in self._spans(text):
            out = out[:a] + self.mask * (b - a) + out[b:]
        return out

    def apply(self, mode: int, text: str) -> tuple[int, str]:
        """The (status, text) a filter request is answered with.

        Pass/fail: ``PASS`` and the text, or ``FILTER_FAILED`` and an empty text. Replace (and
        any mode a title sends that we do not know): ``PASS`` and the cleaned text.
        """
        if mode == TextFilterType.PASS_FAIL:
            if self.passes(text):
                return CallbackStatus.PASS, text
            return CallbackStatus.FILTER_FAILED, ""
        return CallbackStatus.PASS, self.clean(text)


_WORD = re.compile(r"\w+")
