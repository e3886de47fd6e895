"""Offline language identification tuned for short social-media text.

Scripts that belong to one language (Hangul, kana, Thai, Greek...) are decided by counting
characters, which is both faster and more reliable than a statistical model on a handful
of characters; Han without kana is Chinese. Everything else goes to py3langid (a naive
Bayes model shipped inside the package) restricted to the languages we meet on social
platforms, which cuts cost and keeps rare look-alike languages from winning short texts.
"""

from __future__ import annotations

import math
import re
import threading
import unicodedata

import numpy as np

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
_HANDLE = re.compile(r"(?<!\w)@\w+")
_SPACE = re.compile(r"\s+")

# Single-language scripts: character class -> language.
_SCRIPT_LANGS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("th", re.compile(r"[\u0e00-\u0e7f]")),
    ("el", re.compile(r"[\u0370-\u03ff\u1f00-\u1fff]")),
    ("he", re.compile(r"[\u0590-\u05ff]")),
    ("ka", re.compile(r"[\u10a0-\u10ff]")),
    ("hy", re.compile(r"[\u0530-\u058f]")),
    ("km", re.compile(r"[\u1780-\u17ff]")),
    ("lo", re.compile(r"[\u0e80-\u0eff]")),
    ("my", re.compile(r"[\u1000-\u109f]")),
    ("ta", re.compile(r"[\u0b80-\u0bff]")),
    ("bn", re.compile(r"[\u0980-\u09ff]")),
)
_HANGUL = re.compile(r"[\u1100-\u11ff\u3130-\u318f\uac00-\ud7af]")
_KANA = re.compile(r"[\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9f]")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LETTER = re.compile(r"[^\W\d_]")
# Any character of a script decided without the model; absent in most Latin-script posts.
_NON_MODEL_SCRIPT = re.compile(
    "[\u0370-\u03ff\u0530-\u05ff\u0980-\u09ff\u0b80-\u0bff\u0e00-\u0eff\u1000-\u11ff"
    "\u1780-\u17ff\u1f00-\u1fff\u3040-\u30ff\u3130-\u318f\u31f0-\u31ff\u3400-\u4dbf"
    "\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff66-\uff9f]"
)

MAX_DETECT_CHARS = 160  # a prefix is enough to tell; cost grows with every byte walked
LONG_TEXT_CHARS = 48  # from this length on a text counts as long (letters not counted)
MIN_MODEL_LETTERS = 3  # below this the model is guessing
SHORT_TEXT_LETTERS = 20  # below this a platform hint beats a weak model answer
CONFIDENT = 0.5
MIN_CONFIDENCE = 0.15  # a model answer weaker than this is a guess: report `und`


def normalize_hint(hint: str | None) -> str | None:
    """Map a platform language tag (``en-US``, ``zh-Hant``, ``in``) to an ISO 639-1 code."""
    if not hint:
        return None
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
    if "/" in text or "www." in text or "@" in text:
        text = _URL.sub(" ", text)
    if "@" in text:
        text = _HANDLE.sub(" ", text)
    return _SPACE.sub(" ", text.replace("#", " ")).strip()[:MAX_DETECT_CHARS]


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
        if len(set(self.labels)) != len(self.labels):
            raise ValueError("language list must not contain aliased duplicates")

    def probabilities(self, text: str) -> np.ndarray | None:
        """Normalised probability per label, or None when the text has no known feature."""
        if text.isupper():
            text = text.lower()
        encoded = unicodedata.normalize("NFC", text).encode("utf-8", errors="surrogatepass")
        m = self._model
        visits = self._visit(m.tk_nextmove, m._rowbase, m.tk_output, encoded)
        if not visits:
            return None
        idx = np.fromiter(visits.keys(), dtype=np.intp, count=len(visits))
        counts = np.fromiter(visits.values(), dtype=np.float32, count=len(visits))
        scores = np.log1p(counts) @ self._ptc[idx] + self._pc
        # py3langid's temperature: sqrt(bytes) keeps the softmax calibrated across lengths
        scores *= 1.0 / math.sqrt(len(encoded))
        scores = np.exp(scores - scores.max())
        probs: np.ndarray = scores / scores.sum()
        return probs


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

        model = self._identifier()
        probs = model.probabilities(cleaned) if letters >= MIN_MODEL_LETTERS else None
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
