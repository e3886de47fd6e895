"""A faster `SentimentIntensityAnalyzer` that returns bit-identical scores.

The library re-lowers the whole word list inside every negation and idiom check (quadratic
in the text length), strips punctuation through a Python call per word and walks every
character of the text against the emoji table. `FastSentimentIntensityAnalyzer` keeps the
library's lexicon, emoji table and constants, and replaces `polarity_scores` with one pass
that works out each distinct token once (remembered), uses set/dict lookups, skips the
rules that cannot apply, and redoes `score_valence` with the same float operations.
Each rule below mirrors a library method; the comments say why the rewrite is equivalent.
`tests/unit/sentiment/test_vader.py` checks exact equality against the library.
"""

from __future__ import annotations

import math
import re
import string
from itertools import compress
from operator import itemgetter
from typing import Any

from vaderSentiment import vaderSentiment as _vs

N_SCALAR: float = _vs.N_SCALAR
C_INCR: float = _vs.C_INCR
_PUNCTUATION = string.punctuation  # what SentiText._strip_punc_if_word strips
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_SHORT = 3  # _strip_punc_if_word keeps the token when len(stripped) <= 2


_LOWER, _UPPER, _IN_LEXICON = itemgetter(0), itemgetter(1), itemgetter(2)
TOKEN_MEMO_LIMIT = 30_000  # tokens remembered before the memo starts over


class _TokenInfo(dict[str, tuple[str, bool, bool]]):
    """Token -> (word.lower(), word.isupper(), word.lower() in lexicon), computed on access.

    `word` is `SentiText._strip_punc_if_word(token)`: the token without surrounding
    punctuation, or the token as it is when two characters or fewer would remain.
    """

    __slots__ = ("_lexicon",)

    def __init__(self, lexicon: dict[str, float]) -> None:
        super().__init__()
        self._lexicon = lexicon

    def __missing__(self, token: str) -> tuple[str, bool, bool]:
        word = token.strip(_PUNCTUATION)
        if len(word) < _SHORT:
            word = token
        lower = word.lower()
        found = (lower, word.isupper(), lower in self._lexicon)
        if len(self) >= TOKEN_MEMO_LIMIT:
            self.clear()
        self[token] = found
        return found


def _word_tuples(table: dict[str, Any]) -> dict[tuple[str, ...], Any]:
    # The library joins lowered words with " " and looks the string up. Words come from
    # str.split() and contain no whitespace (lower() never turns a non-space into one), so
    # "w1 w2" == key exactly when (w1, w2) == tuple(key.split(" ")).
    return {tuple(key.split(" ")): value for key, value in table.items() if " " in key}


class FastSentimentIntensityAnalyzer(_vs.SentimentIntensityAnalyzer):  # type: ignore[misc]
    """`SentimentIntensityAnalyzer` with a cheaper `polarity_scores`; same results."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._booster: dict[str, float] = _vs.BOOSTER_DICT
        # per-token answers; like the tables below, it assumes the lexicon is not edited later
        self._token_info = _TokenInfo(self.lexicon)
        # negated([w]) is `w.lower() in NEGATE or "n't" in w.lower()`; lower() is idempotent
        # (checked over every code point), so testing the already lowered word is the same.
        self._negate = frozenset(_vs.NEGATE)
        self._special = _word_tuples(_vs.SPECIAL_CASES)
        self._booster_ngrams = _word_tuples(_vs.BOOSTER_DICT)
        # Every multi-word key starts with one of these words; if none of the words an
        # idiom check looks at starts a key, no lookup there can match.
        self._idiom_heads = frozenset(k[0] for k in (*self._special, *self._booster_ngrams))
        # Words that let a rule of `_valence` change a lexicon word's valence when they are
        # the word itself or one of the three before it (the "n't" rule is checked apart).
        self._rule_words = frozenset(
            {*self._booster, *self._negate, *self._idiom_heads}
            | {"no", "never", "so", "this", "without", "doubt", "least"}
        )
        # The library replaces a character only when it is a key of `emojis`, so only the
        # one-character keys can ever fire. None of them is ASCII (checked), so an ASCII
        # text passes through unchanged.
        self._emoji_chars = frozenset(k for k in self.emojis if len(k) == 1)
        if any(k.isascii() or k.isspace() for k in self._emoji_chars):
            raise RuntimeError("emoji table has ASCII/space keys; the fast path assumes none")

    def _replace_emojis(self, text: str) -> str:
        # Library loop: an emoji char becomes its description, preceded by " " unless
        # `prev_space`, which is True at the start, False right after an emoji and
        # `char == " "` after any other char. Emoji chars are never " ", so an emoji at
        # index k gets the " " exactly when k > 0 and text[k - 1] != " ".
        if self._emoji_chars.isdisjoint(text):
            return text
        emojis = self.emojis
        parts: list[str] = []
        last = 0
        for match in _NON_ASCII.finditer(text):
            char = match.group()
            if char not in emojis:
                continue
            k = match.start()
            parts.append(text[last:k])
            if k > 0 and text[k - 1] != " ":
                parts.append(" ")
            parts.append(emojis[char])
            last = k + 1
        parts.append(text[last:])
        return "".join(parts)

    def polarity_scores(self, text: Any) -> dict[str, float]:
        """Same dict as the library's `polarity_scores` (neg, neu, pos, compound)."""
        if type(text) is not str:  # the library's odd paths for non-str input
            return super().polarity_scores(text)  # type: ignore[no-any-return]
        sentiments, text = self._sentiments(text)
        return self._score_valence(sentiments, text)

    def compound(self, text: Any) -> float:
        """`polarity_scores(text)["compound"]`, without working out neg, neu and pos."""
        if type(text) is not str:
            return super().polarity_scores(text)["compound"]  # type: ignore[no-any-return]
        sentiments, text = self._sentiments(text)
        if not any(sentiments):  # no text, or no polar word: see `_score_valence`
            return 0.0
        sum_s, _ = self._emphasised_sum(sentiments, text)
        return round(_vs.normalize(sum_s), 4)

    def _sentiments(self, text: str) -> tuple[list[float], str]:
        """Each word's valence (0 for most), and the stripped text the scores look at."""
        if not text.isascii():
            text = self._replace_emojis(text)
        text = text.strip()
        # SentiText._words_and_emoticons, lower(), isupper() and the lexicon test are
        # functions of the token alone: one memo lookup per token, all in C for the tokens
        # seen before (social text is Zipfian), then C-level column picks.
        tokens = text.split()
        n = len(tokens)
        info = list(map(self._token_info.__getitem__, tokens))
        lower: list[str] = list(map(_LOWER, info))
        upper: list[bool] = list(map(_UPPER, info))
        # allcap_differential: 0 < n - caps < n  <=>  0 < caps < n.
        caps = sum(upper)
        is_cap_diff = 0 < caps < n
        lexicon = self.lexicon
        booster = self._booster
        # polarity_scores appends 0 for boosters and "kind of", sentiment_valence appends
        # 0 for words outside the lexicon; only the remaining words get a valence.
        sentiments: list[float] = [0] * n
        # A lowered word contains "n't" only if the text has "'t" or "'T": no other code
        # point lowers to "'" or "t" (checked over all of them).
        apostrophe = "'t" in text or "'T" in text
        rule_words = self._rule_words
        for i in compress(range(n), map(_IN_LEXICON, info)):
            item = lower[i]
            if item in booster or (item == "kind" and i < n - 1 and lower[i + 1] == "of"):
                continue
            if apostrophe or not rule_words.isdisjoint(lower[i - 3 if i > 3 else 0 : i + 1]):
                sentiments[i] = self._valence(upper, lower, i, is_cap_diff)
                continue
            # No rule applies: every step of `_valence` leaves the valence as it is, apart
            # from the caps boost (adding the boosters' 0.0 to a non-zero valence is exact;
            # lexicon values are at least 0.1 away from zero and the boost moves away from it).
            valence = lexicon[item]
            if is_cap_diff and upper[i]:
                if valence > 0:
                    valence += C_INCR
                else:
                    valence -= C_INCR
            sentiments[i] = valence
        if "but" in lower:
            self._but(lower, sentiments)
        return sentiments, text

    def _score_valence(self, sentiments: list[float], text: str) -> dict[str, float]:
        """The library's `score_valence`, with the same float operations in the same order.

        Zeros add nothing to the positive and negative sums, so only the non-zero values
        are walked; a text without any is neutral, which the library works out as below.
        """
        if not sentiments:
            return {"neg": 0.0, "neu": 0.0, "pos": 0.0, "compound": 0.0}
        polar = list(filter(None, sentiments))  # the non-zero values, in order
        if not polar:
            # sum 0.0, compound normalize(0.0) == 0.0, neu = n / (0.0 + 0.0 + n) == 1.0
            return {"neg": 0.0, "neu": 1.0, "pos": 0.0, "compound": 0.0}
        sum_s, punct_emph_amplifier = self._emphasised_sum(sentiments, text)
        compound = _vs.normalize(sum_s)
        # _sift_sentiment_scores
        pos_sum = 0.0
        neg_sum = 0.0
        for sentiment_score in polar:
            if sentiment_score > 0:
                pos_sum += float(sentiment_score) + 1
            if sentiment_score < 0:
                neg_sum += float(sentiment_score) - 1
        neu_count = len(sentiments) - len(polar)
        if pos_sum > math.fabs(neg_sum):
            pos_sum += punct_emph_amplifier
        elif pos_sum < math.fabs(neg_sum):
            neg_sum -= punct_emph_amplifier
        total = pos_sum + math.fabs(neg_sum) + neu_count
        pos = math.fabs(pos_sum / total)
        neg = math.fabs(neg_sum / total)
        neu = math.fabs(neu_count / total)
        return {
            "neg": round(neg, 3),
            "neu": round(neu, 3),
            "pos": round(pos, 3),
            "compound": round(compound, 4),
        }

    @staticmethod
    def _emphasised_sum(sentiments: list[float], text: str) -> tuple[float, float]:
        """The valence sum moved away from zero by "!" and "?" emphasis, and that emphasis."""
        sum_s = float(sum(sentiments))
        # _punctuation_emphasis: _amplify_ep + _amplify_qm
        ep_count = text.count("!")
        if ep_count > 4:
            ep_count = 4
        qm_count = text.count("?")
        qm_amplifier: float = 0
        if qm_count > 1:
            qm_amplifier = qm_count * 0.18 if qm_count <= 3 else 0.96
        punct_emph_amplifier = ep_count * 0.292 + qm_amplifier
        if sum_s > 0:
            sum_s += punct_emph_amplifier
        elif sum_s < 0:
            sum_s -= punct_emph_amplifier
        return sum_s, punct_emph_amplifier

    def _valence(self, upper: list[bool], lower: list[str], i: int, is_cap_diff: bool) -> float:
        """Body of `sentiment_valence` for a lexicon word, on pre-lowered words.

        `upper[k]` is `words[k].isupper()`, `lower[k]` is `words[k].lower()`.
        """
        lexicon = self.lexicon
        item = lower[i]
        n = len(lower)
        valence = lexicon[item]
        if item == "no" and i != n - 1 and lower[i + 1] in lexicon:
            valence = 0.0
        if (
            (i > 0 and lower[i - 1] == "no")
            or (i > 1 and lower[i - 2] == "no")
            or (i > 2 and lower[i - 3] == "no" and lower[i - 1] in ("or", "nor"))
        ):
            valence = lexicon[item] * N_SCALAR
        if is_cap_diff and upper[i]:
            if valence > 0:
                valence += C_INCR
            else:
                valence -= C_INCR
        booster = self._booster
        negate = self._negate
        for start_i in range(3):
            if i <= start_i:
                break  # the library's `i > start_i` fails for every later start_i too
            j = i - (start_i + 1)
            prev = lower[j]
            if prev in lexicon:
                continue
            # scalar_inc_dec(words[j], valence, is_cap_diff), with its lower() precomputed.
            s = 0.0
            if prev in booster:
                s = booster[prev]
                if valence < 0:
                    s *= -1
                if upper[j] and is_cap_diff:
                    if valence > 0:
                        s += C_INCR
                    else:
                        s -= C_INCR
            if start_i == 1 and s != 0:
                s = s * 0.95
            if start_i == 2 and s != 0:
                s = s * 0.9
            # Always add, as the library does (valence + 0.0 also normalises -0.0).
            valence = valence + s
            # _negation_check; negated([prev]) as explained in __init__.
            if start_i == 0:
                if prev in negate or "n't" in prev:
                    valence = valence * N_SCALAR
            elif start_i == 1:
                if lower[i - 2] == "never" and (lower[i - 1] == "so" or lower[i - 1] == "this"):
                    valence = valence * 1.25
                elif lower[i - 2] == "without" and lower[i - 1] == "doubt":
                    pass
                elif prev in negate or "n't" in prev:
                    valence = valence * N_SCALAR
            else:
                # The library's `A and B or C` binds as `(A and B) or C`: a "so"/"this"
                # right before the word boosts it even without "never".
                if (
                    lower[i - 3] == "never" and (lower[i - 2] == "so" or lower[i - 2] == "this")
                ) or (lower[i - 1] == "so" or lower[i - 1] == "this"):
                    valence = valence * 1.25
                elif lower[i - 3] == "without" and (
                    lower[i - 2] == "doubt" or lower[i - 1] == "doubt"
                ):
                    pass
                elif prev in negate or "n't" in prev:
                    valence = valence * N_SCALAR
                valence = self._idioms(valence, lower, i)
        # _least_check ("least" in lexicon is tested exactly as the library does).
        if i > 1 and lower[i - 1] not in lexicon and lower[i - 1] == "least":
            if lower[i - 2] != "at" and lower[i - 2] != "very":
                valence = valence * N_SCALAR
        elif i > 0 and lower[i - 1] not in lexicon and lower[i - 1] == "least":
            valence = valence * N_SCALAR
        return valence

    def _idioms(self, valence: float, lower: list[str], i: int) -> float:
        """`_special_idioms_check` (i >= 3) with word tuples instead of joined strings."""
        w3, w2, w1, w0 = lower[i - 3], lower[i - 2], lower[i - 1], lower[i]
        if self._idiom_heads.isdisjoint((w3, w2, w1, w0)):
            return valence  # every key lookup below starts with one of these words
        special = self._special
        for seq in ((w1, w0), (w2, w1, w0), (w2, w1), (w3, w2, w1), (w3, w2)):
            if seq in special:
                valence = special[seq]
                break
        n = len(lower)
        if n - 1 > i and (w0, lower[i + 1]) in special:
            valence = special[(w0, lower[i + 1])]
        if n - 1 > i + 1 and (w0, lower[i + 1], lower[i + 2]) in special:
            valence = special[(w0, lower[i + 1], lower[i + 2])]
        ngrams = self._booster_ngrams
        for ngram in ((w3, w2, w1), (w3, w2), (w2, w1)):
            if ngram in ngrams:
                valence = valence + ngrams[ngram]
        return valence

    @staticmethod
    def _but(lower: list[str], sentiments: list[float]) -> None:
        """`_but_check` in place, keeping its quirk of rescaling the first equal value."""
        bi = lower.index("but")
        # Iterating while assigning by index is what the library's pop()+insert() amounts
        # to: the length never changes and later positions see earlier updates.
        for sentiment in sentiments:
            si = sentiments.index(sentiment)
            if si < bi:
                sentiments[si] = sentiment * 0.5
            elif si > bi:
                sentiments[si] = sentiment * 1.5
