"""Offline language identification tuned for short social-media text.

Scripts that belong to one language (Hangul, kana, Thai, Greek...) are decided by counting
characters, which is both faster and more reliable than a statistical model on a handful
of characters; Han without kana is Chinese. Everything else goes to py3langid (a naive
Bayes model shipped inside the package) restricted to the languages we meet on social
platforms, which cuts cost and keeps rare look-alike languages from winning short texts.
"""

from __future__ import annotations

import itertools
import math
import re
import threading
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from shared.text import CJK, HAN, HANGUL, KANA, SCRIPT_LANGUAGES, char_class

UNDETERMINED = "und"

# Languages the statistical model may answer; restricting it avoids e.g. "ok" -> Serbian.
MODEL_LANGUAGES: tuple[str, ...] = (
    "en", "es", "pt", "fr", "de", "it", "nl", "id", "ms", "tl", "vi", "tr", "pl", "ro",
    "sv", "da", "no", "fi", "cs", "sk", "hu", "hr", "ca", "ru", "uk", "bg", "mk", "ar",
    "fa", "ur", "hi", "mr", "ne", "sw",
)  # fmt: skip

# Legacy or regional tags platforms still send as hints.
_HINT_ALIASES = {
    "in": "id",
    "iw": "he",
    "ji": "yi",
    "jw": "jv",
    "nb": "no",
    "nn": "no",
    "fil": "tl",
    "zh-hant": "zh",
    "zh-hans": "zh",
    "cmn": "zh",
    "yue": "zh",
}

# URLs, e-mail addresses and @handles carry no language. URLs are looked for only when a
# "/" or "www." is present: the URL pattern is the costliest step for plain text.
_URL = re.compile(
    r"(?:https?://|www\.)\S+|\b[\w.-]+\.(?:com|net|org|io|co|ly)/\S*|\S+@\S+\.\w+",
    re.IGNORECASE,
)
# `_URL` for text without "/": the domain branch needs a "/", so it is left out (cheaper).
_URL_NO_SLASH = re.compile(r"(?:https?://|www\.)\S+|\S+@\S+\.\w+", re.IGNORECASE)
_HANDLE = re.compile(r"(?<!\w)@\w+")

# Single-language scripts and the CJK scripts (`shared.text`), as character classes.
_SCRIPT_LANGS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (language, re.compile(char_class(ranges))) for language, ranges in SCRIPT_LANGUAGES
)
_HANGUL = re.compile(char_class(HANGUL))
_KANA = re.compile(char_class(KANA))
_HAN = re.compile(char_class(HAN))
_LETTER = re.compile(r"[^\W\d_]")
# Any character of a script decided without the model; absent in most Latin-script posts.
_NON_MODEL_SCRIPT = re.compile(
    char_class(sorted([r for _, ranges in SCRIPT_LANGUAGES for r in ranges] + list(CJK)))
)

LOCKSTEP_MIN_BATCH = 32  # below this the per-byte Python walk beats numpy's per-step overhead
MAX_DETECT_CHARS = 160  # a prefix is enough to tell; cost grows with every byte walked
LONG_TEXT_CHARS = 48  # from this length on a text counts as long (letters not counted)
MIN_MODEL_LETTERS = 3  # below this the model is guessing
SHORT_TEXT_LETTERS = 20  # below this a platform hint beats a weak model answer
CONFIDENT = 0.5
MIN_CONFIDENCE = 0.15  # a model answer weaker than this is a guess: report `und`


_NORMALIZED_HINTS: dict[str, str | None] = {}  # hint as sent -> `normalize_hint` of it


def normalize_hint(hint: str | None) -> str | None:
    """Map a platform language tag (``en-US``, ``zh-Hant``, ``in``) to an ISO 639-1 code."""
    if not hint:
        return None
    try:
        return _NORMALIZED_HINTS[hint]
    except KeyError:
        pass
    code = _normalize_hint(hint)
    if len(_NORMALIZED_HINTS) < 4_096:  # platforms send a handful of distinct tags
        _NORMALIZED_HINTS[hint] = code
    return code


def _normalize_hint(hint: str) -> str | None:
    tag = hint.strip().lower().replace("_", "-")
    if tag in _HINT_ALIASES:
        return _HINT_ALIASES[tag]
    primary = tag.split("-", 1)[0]
    primary = _HINT_ALIASES.get(primary, primary)
    if len(primary) == 2 and primary.isascii() and primary.isalpha():
        return primary
    return None


def clean_for_detection(text: str) -> str:
    """Drop URLs, e-mail addresses, @handles and hashtag marks that carry no language."""
    text = text[: MAX_DETECT_CHARS * 2]
    if "/" in text:
        text = _URL.sub(" ", text)
    elif ("www." in text or "@" in text) and "." in text:  # both branches left need a "."
        text = _URL_NO_SLASH.sub(" ", text)
    if "@" in text:
        text = _HANDLE.sub(" ", text)
    # split() and strip() use the same whitespace as `\s`: this is _SPACE.sub(" ", t).strip()
    return " ".join(text.replace("#", " ").split())[:MAX_DETECT_CHARS]


# Features of a batch: feature ids and counts of all texts end to end, and each text's
# (start, end) slice of them, features in order of first appearance.
_Features = tuple[np.ndarray, np.ndarray, list[tuple[int, int]]]


def _flatten(visits: Sequence[Counter[int] | None]) -> _Features:
    """`visit_counts` results as one `_Features` (Counter order kept)."""
    bounds: list[tuple[int, int]] = []
    start = 0
    for v in visits:
        end = start + (len(v) if v else 0)
        bounds.append((start, end))
        start = end
    idx = np.fromiter(
        itertools.chain.from_iterable(v.keys() for v in visits if v), dtype=np.intp, count=start
    )
    counts = np.fromiter(
        itertools.chain.from_iterable(v.values() for v in visits if v), dtype=np.intp, count=start
    )
    return idx, counts, bounds


class _NaiveBayes:
    """py3langid's model restricted to some languages, scored without its per-call overhead.

    py3langid's own `rank` spends half its time in per-call bookkeeping (alias folding,
    sorting every language); this walks the same byte DFA with the library's own
    `visit_counts` and does one float32 product, which matters at thousands of texts/s.
    """

    def __init__(self, languages: tuple[str, ...]) -> None:
        from py3langid import langid

        model = langid.LanguageIdentifier.from_model_file(langid.MODEL_FILE, norm_probs=True)
        model.set_languages(list(languages))
        self._model = model
        self._visit = langid.visit_counts
        # float16 matrix products are slow in numpy; 14 MB of float32 is not
        self._ptc = np.ascontiguousarray(model.nb_ptc, dtype=np.float32)
        self._pc = np.asarray(model.nb_pc, dtype=np.float32)
        self.labels: list[str] = list(model.nb_classes)
        self._arrays: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        if len(set(self.labels)) != len(self.labels):
            raise ValueError("language list must not contain aliased duplicates")

    def probabilities(self, text: str) -> np.ndarray | None:
        """Normalised probability per label, or None when the text has no known feature."""
        return self.probabilities_many([text])[0]

    def probabilities_many(self, texts: Sequence[str]) -> list[np.ndarray | None]:
        """`probabilities` of each text; the DFA walk runs in lock-step over a large batch."""
        encoded = [self._encode(text) for text in texts]
        if len(encoded) >= LOCKSTEP_MIN_BATCH:
            features = self._features_lockstep(encoded)
        else:
            m = self._model
            features = _flatten(
                [self._visit(m.tk_nextmove, m._rowbase, m.tk_output, e) for e in encoded]
            )
        return self._score_many(features, [len(e) for e in encoded])

    @staticmethod
    def _encode(text: str) -> bytes:
        # The model learned from mostly lower-case text: shouted posts ("VAI SE FUDER TÔ
        # PUTAAAA #MasterChefBR") read as no language at all, hashtags and @handles included.
        lowered = text.lower()
        if lowered != text:
            capitals = sum(a != b for a, b in zip(text, lowered, strict=False))
            if 2 * capitals > sum(ch.isalpha() for ch in text):
                text = lowered
        return unicodedata.normalize("NFC", text).encode("utf-8", errors="surrogatepass")

    def _score_many(self, features: _Features, sizes: list[int]) -> list[np.ndarray | None]:
        """Softmax scores of each text; None for a text without features.

        Each text keeps its own vector-matrix product over its features in walk order (the
        float32 sum order of the per-text code); the steps after it are element-wise, or
        row-wise over the same 34 values, so running them on all rows at once is exact.
        """
        idx, counts, bounds = features
        live = [k for k, (start, end) in enumerate(bounds) if end > start]
        result: list[np.ndarray | None] = [None] * len(sizes)
        if not live:
            return result
        weights = np.log1p(counts.astype(np.float32))
        rows = self._ptc[idx]
        scores = np.empty((len(live), len(self.labels)), dtype=np.float32)
        for j, k in enumerate(live):
            start, end = bounds[k]
            scores[j] = weights[start:end] @ rows[start:end]
        scores += self._pc
        # py3langid's temperature: sqrt(bytes) keeps the softmax calibrated across lengths
        scores *= np.array([1.0 / math.sqrt(sizes[k]) for k in live], dtype=np.float32)[:, None]
        scores -= scores.max(axis=1, keepdims=True)
        np.exp(scores, out=scores)
        scores /= scores.sum(axis=1, keepdims=True)
        for j, k in enumerate(live):
            result[k] = scores[j]
        return result

    def _walk_lockstep(self, encoded: list[bytes]) -> list[Counter[int] | None]:
        """Feature counts per text, equal to `visit_counts` (same keys, same key order)."""
        idx, counts, bounds = self._features_lockstep(encoded)
        keys, values = idx.tolist(), counts.tolist()
        return [
            Counter(dict(zip(keys[s:e], values[s:e], strict=True))) if e > s else None
            for s, e in bounds
        ]

    def _features_lockstep(self, encoded: list[bytes]) -> _Features:
        """Distinct features and their counts per text, one numpy step per byte position.

        Texts are ordered longest first, so the texts still walking at position j are a
        prefix of the batch. Each text's distinct features come out in order of first
        appearance, the key order of `visit_counts`' Counter.
        """
        nextmove, rowbase, output = self._tables()
        order = sorted(range(len(encoded)), key=lambda k: -len(encoded[k]))
        lengths = [len(encoded[k]) for k in order]
        width = lengths[0] if lengths else 0
        padded = b"".join(encoded[k].ljust(width, b"\0") for k in order)
        data = np.frombuffer(padded, dtype=np.uint8).reshape(len(order), width).astype(np.intp)
        states = np.zeros(len(order), dtype=np.intp)
        features = np.full((len(order), width), -1, dtype=np.intp)
        active = len(order)
        for j in range(width):
            while active and lengths[active - 1] <= j:
                active -= 1
            live = states[:active]
            live[:] = nextmove[rowbase[live] + data[:active, j]]
            features[:active, j] = output[live]
        row, column = np.nonzero(features >= 0)  # row-major: each row in walk order
        # one key per (text, feature), in walk order; a stable sort groups equal keys with
        # the first occurrence leading, and keeping the first occurrences in walk order
        # gives each text's distinct features in order of appearance
        span = len(self._ptc)
        walk = row * span + features[row, column]
        by_key = np.argsort(walk, kind="stable")
        grouped = walk[by_key]
        leads = np.flatnonzero(np.diff(grouped, prepend=grouped[:1] - 1))  # key changes
        first = by_key[leads]
        is_first = np.zeros(len(walk), dtype=bool)
        is_first[first] = True
        count_at = np.zeros(len(walk), dtype=np.intp)
        count_at[first] = np.diff(np.append(leads, len(walk)))
        keys, counts = walk[is_first], count_at[is_first]
        text_of_key = keys // span
        starts = np.searchsorted(text_of_key, np.arange(len(order)), side="left").tolist()
        ends = np.searchsorted(text_of_key, np.arange(len(order)), side="right").tolist()
        bounds: list[tuple[int, int]] = [(0, 0)] * len(encoded)
        for position, k in enumerate(order):
            bounds[k] = (starts[position], ends[position])
        return keys - text_of_key * span, counts, bounds

    def _tables(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The DFA as numpy arrays (next state, row offsets, feature per state), made once."""
        if self._arrays is None:
            m = self._model
            self._arrays = (
                np.frombuffer(m.tk_nextmove, dtype=np.dtype(m.tk_nextmove.typecode)),
                np.asarray(m._rowbase, dtype=np.intp),
                np.asarray(m.tk_output, dtype=np.intp),
            )
        return self._arrays


@dataclass(slots=True)
class _Pending:
    """A text waiting for the model: its cleaned form, letter count and hint."""

    cleaned: str
    letters: int
    hint_code: str | None
    result: tuple[str, float] = (UNDETERMINED, 0.0)


class LanguageDetector:
    """Detects the language of short texts; the model loads on first use, once per process."""

    def __init__(self, languages: tuple[str, ...] = MODEL_LANGUAGES) -> None:
        self._languages = languages
        self._model: _NaiveBayes | None = None
        self._lock = threading.Lock()

    def _identifier(self) -> _NaiveBayes:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = _NaiveBayes(self._languages)
        return self._model

    def warm_up(self) -> None:
        """Load the model now (about a second) rather than on the first mention."""
        self._identifier()

    def detect(self, text: str, hint: str | None = None) -> tuple[str, float]:
        """Return (ISO 639-1 code or ``und``, confidence in [0, 1]) for `text`."""
        return self.detect_many([text], [hint])[0]

    def detect_many(
        self, texts: Sequence[str], hints: Sequence[str | None]
    ) -> list[tuple[str, float]]:
        """`detect` for each (text, hint); the statistical model scores them as one batch."""
        prepared = [self._prepare(text, hint) for text, hint in zip(texts, hints, strict=True)]
        pending = [p for p in prepared if isinstance(p, _Pending)]
        if not pending:
            return [p for p in prepared if not isinstance(p, _Pending)]
        model = self._identifier()
        for item, probs in zip(
            pending, model.probabilities_many([p.cleaned for p in pending]), strict=True
        ):
            item.result = self._decide(model, item, probs)
        return [p.result if isinstance(p, _Pending) else p for p in prepared]

    def _prepare(self, text: str, hint: str | None) -> tuple[str, float] | _Pending:
        """Answer without the model when possible; otherwise what the model step needs."""
        hint_code = normalize_hint(hint)
        cleaned = clean_for_detection(text)
        if not _LETTER.search(cleaned):
            return UNDETERMINED, 0.0
        # only short texts need an exact count (for the thresholds below); it costs 10 µs
        letters = len(_LETTER.findall(cleaned)) if len(cleaned) < LONG_TEXT_CHARS else len(cleaned)

        if not cleaned.isascii() and _NON_MODEL_SCRIPT.search(cleaned):
            by_script = self._by_script(cleaned, len(_LETTER.findall(cleaned)))
            if by_script is not None:
                # combining vowel signs (Thai, Bengali) are script characters but not letters
                return by_script[0], min(by_script[1], 1.0)
        if letters < MIN_MODEL_LETTERS:
            return (hint_code, 0.3) if hint_code else (UNDETERMINED, 0.0)
        return _Pending(cleaned, letters, hint_code)

    @staticmethod
    def _decide(model: _NaiveBayes, item: _Pending, probs: np.ndarray | None) -> tuple[str, float]:
        hint_code, letters = item.hint_code, item.letters
        if probs is None:
            return (hint_code, 0.3) if hint_code else (UNDETERMINED, 0.0)
        top = int(probs.argmax())
        best = model.labels[top]
        confidence = min(max(float(probs[top]), 0.0), 1.0)
        if hint_code is None:
            if confidence < MIN_CONFIDENCE:
                return UNDETERMINED, 0.0
            return best, round(confidence, 4)
        if hint_code == best:
            # the platform and the model agree: that is stronger than either alone
            return best, round(1.0 - (1.0 - confidence) * 0.5, 4)
        if letters < SHORT_TEXT_LETTERS or confidence < CONFIDENT:
            hinted = (
                float(probs[model.labels.index(hint_code)]) if (hint_code in model.labels) else 0.0
            )
            return hint_code, round(min(max(hinted, 0.3), 1.0), 4)
        return best, round(confidence, 4)

    @staticmethod
    def _by_script(cleaned: str, letters: int) -> tuple[str, float] | None:
        hangul = len(_HANGUL.findall(cleaned))
        kana = len(_KANA.findall(cleaned))
        han = len(_HAN.findall(cleaned))
        cjk = hangul + kana + han
        if cjk * 2 >= letters:
            share = cjk / letters
            if hangul >= kana + han:
                return "ko", round(min(1.0, 0.5 + 0.5 * hangul / cjk) * share, 4)
            # any kana among Han means Japanese; Chinese never uses kana
            if kana and kana * 10 >= han:
                return "ja", round(min(1.0, 0.7 + 0.3 * (kana + han) / cjk) * share, 4)
            if kana:
                return "ja", round(0.6 * share, 4)
            return "zh", round(min(1.0, 0.55 + 0.45 * min(han, 10) / 10) * share, 4)
        for code, pattern in _SCRIPT_LANGS:
            count = len(pattern.findall(cleaned))
            if count * 2 >= letters:
                return code, round(count / letters, 4)
        return None


_DEFAULT = LanguageDetector()


def detect_language(text: str, hint: str | None = None) -> tuple[str, float]:
    """Detect the ISO 639-1 language of `text` with a confidence in [0, 1] (``und``, 0.0)."""
    return _DEFAULT.detect(text, hint)


def detect_languages(texts: Sequence[str], hints: Sequence[str | None]) -> list[tuple[str, float]]:
    """`detect_language` for many texts at once (faster per text for large batches)."""
    return _DEFAULT.detect_many(texts, hints)
