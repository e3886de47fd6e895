"""Weakly labelled training data of the figurative head: crisis words used literally or not.

Only sentences that name a crisis topic of the shipped lexicon (bare, no idiom list) are
kept, each labelled by where it comes from:
- `literal`: CrisisLexT26 tweets marked `Related and informative` (reports of fires, floods,
  explosions, shootings, in en/es/it/pt), and unhappy posts that name a crisis word (the
  same sources as below, negative, anger or sadness labels: complaints, "scammed", "hacked");
- `figurative`: Reddit comments and tweets that name a crisis word in a happy post:
  GoEmotions `positive` (group labels, single-label comments), TweetEval emotion `joy` and
  `optimism`, TweetEval sentiment `positive`, UMSAB `positive` (en, es, pt, it, fr, de).
A happy post that names a fire is rarely about one ("this album is fire", "killing it").

None of it is the topic_context corpus (tests/data/topic_context), which stays a held-out
measurement. Validation: whole CrisisLex events and a seeded fifth of the other posts.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

from services.sentiment.core.language import detect_languages
from services.sentiment.core.topics import TopicLexicon
from shared.contracts.topics import topic_contract
from tools.train.multilingual_data import Labelled, unescape

LITERAL = "literal"
FIGURATIVE = "figurative"
LABELS = (LITERAL, FIGURATIVE)
# CrisisLex events held out for validation: a wildfire, a flood, an explosion, a shooting and
# a Spanish-language earthquake (the Portuguese and Italian events are needed for training).
VALIDATION_EVENTS = frozenset(
    {
        "2012_Colorado_wildfires",
        "2012_Costa_Rica_earthquake",
        "2013_Queensland_floods",
        "2013_West_Texas_explosion",
        "2013_LA_airport_shootings",
    }
)
_CRISISLEX_LANGUAGES = ("en", "es", "it", "pt")
_UMSAB = {"english": "en", "spanish": "es", "portuguese": "pt", "italian": "it",
          "french": "fr", "german": "de"}  # fmt: skip
_VALIDATION_SHARE = 0.2


class CrisisWords:
    """Does a text name a crisis topic of the shipped lexicon (no idiom list)?"""

    def __init__(self) -> None:
        self._lexicon = TopicLexicon(topic_contract())

    def __call__(self, text: str, language: str) -> bool:
        return any(self._lexicon.is_critical(t) for t in self._lexicon.match(text, language))


def crisislex(data_dir: Path, words: CrisisWords) -> tuple[Labelled, Labelled]:
    """Literal reports from CrisisLexT26: (training events, validation events)."""
    train, val = Labelled(), Labelled()
    for path in sorted((data_dir / "crisislex_t26_dev").glob("*/*-tweets_labeled.csv")):
        with path.open(encoding="utf-8", errors="replace", newline="") as fh:
            rows = [
                {k.strip(): v for k, v in row.items()}
                for row in csv.DictReader(fh, skipinitialspace=True)
            ]
        texts = list(
            dict.fromkeys(
                r["Tweet Text"] for r in rows if r["Informativeness"] == "Related and informative"
            )
        )
        detected = detect_languages(texts, [None] * len(texts))
        target = val if path.parent.name in VALIDATION_EVENTS else train
        for text, (language, _) in zip(texts, detected, strict=True):
            if language in _CRISISLEX_LANGUAGES and words(text, language):
                target.add([text], language, [LITERAL])
    return train, val


def social_posts(data_dir: Path, words: CrisisWords, *, happy: bool) -> Labelled:
    """Posts that name a crisis word (GoEmotions, TweetEval, UMSAB): happy or unhappy ones."""
    out = Labelled()
    label = FIGURATIVE if happy else LITERAL
    group, emotion, polarity = ({"3"}, {"1", "2"}, "positive") if happy else (
        {"1"}, {"0", "3"}, "negative")  # fmt: skip

    def keep(texts: list[str], language: str) -> None:
        chosen = [t for t in dict.fromkeys(texts) if words(t, language)]
        out.add(chosen, language, [label] * len(chosen))

    for split in ("train", "dev"):
        lines = (data_dir / "goemotions" / "group" / f"{split}.tsv").read_text(encoding="utf-8")
        keep([ln.split("\t")[0] for ln in lines.splitlines() if ln.split("\t")[1] in group], "en")
    folder = data_dir / "tweeteval" / "emotion"
    for split in ("train", "val"):
        texts = (folder / f"{split}_text.txt").read_text(encoding="utf-8").splitlines()
        ids = (folder / f"{split}_labels.txt").read_text().split()
        keep([t for t, y in zip(texts, ids, strict=True) if y in emotion], "en")
    folder = data_dir / "tweeteval" / "sentiment"
    texts = (folder / "val_text.txt").read_text(encoding="utf-8").splitlines()
    ids = (folder / "val_labels.txt").read_text().split()
    keep([t for t, y in zip(texts, ids, strict=True) if y == str(2 if happy else 0)], "en")
    for stem, language in _UMSAB.items():
        for split in ("train", "val"):
            path = data_dir / "umsab" / f"{stem}_{split}.csv"
            with path.open(encoding="utf-8", newline="") as fh:
                rows = list(csv.DictReader(fh))
            keep([unescape(r["text"]) for r in rows if r["label"] == polarity], language)
    return out


def figurative_sets(data_dir: Path, *, complaints: bool = True) -> tuple[Labelled, Labelled]:
    """(train, validation) for the figurative head; `complaints` False leaves out the unhappy
    posts (literal reports are then CrisisLex alone: the first, news-only variant)."""
    words = CrisisWords()
    train, val = crisislex(data_dir, words)
    for happy in (True, False) if complaints else (True,):
        posts = social_posts(data_dir, words, happy=happy)
        order = list(range(len(posts)))
        random.Random(0).shuffle(order)
        cut = int(len(order) * _VALIDATION_SHARE)
        for target, part in ((val, order[:cut]), (train, order[cut:])):
            chosen = posts.subset(sorted(part))
            target.texts += chosen.texts
            target.languages += chosen.languages
            target.labels += chosen.labels
    return train, val
