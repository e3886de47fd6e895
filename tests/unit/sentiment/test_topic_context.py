"""The near-miss corpus through the real enrichment raises no crisis topic and no keyword page;
the genuine crisis reports still do. Plus the idiom list and the context gate on their own."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.alerting.detect.engine import DetectionEngine, EngineConfig
from services.alerting.detect.keywords import KeywordConfig, critical_mention
from services.alerting.detect.signals import Decisions
from services.sentiment.core.context import ContextGate, supports_crisis
from services.sentiment.core.enrich import Enricher
from services.sentiment.core.idioms import DEFAULT_PATH, IdiomFile, IdiomListError, IdiomMask
from services.sentiment.core.textmatch import TextTokens
from services.sentiment.core.topics import TopicLexicon
from shared.contracts.topics import topic_contract
from shared.contracts.yaml_files import read_yaml_model
from shared.schemas import Mention, ScoredMention, SentimentScore
from shared.settings.sentiment import SentimentSettings
from shared.text import tokenize
from tools.eval.topic_context import Row, load_rows

DATA = Path(__file__).parents[2] / "data" / "topic_context"
CRISIS = set(topic_contract().crisis_topics)
# Every topic pages at first mention here, from an account as large as the issue's example.
PAGE_ALL = KeywordConfig(topics=frozenset(CRISIS), min_reach=10_000)


def _raw_rows(name: str) -> list[tuple[Row, list[str]]]:
    """Rows with their raw `expected` tokens (the `!`/`?` markers kept)."""
    with (DATA / name).open(encoding="utf-8", newline="") as fh:
        raw = [line["expected"].split() for line in csv.DictReader(fh)]
    return list(zip(load_rows([DATA / name]), raw, strict=True))


@pytest.fixture(scope="module")
def enricher() -> Enricher:
    return Enricher.from_settings(SentimentSettings())


def _enrich(enricher: Enricher, rows: list[Row]) -> list[ScoredMention]:
    now = datetime.now(UTC)
    mentions = [
        Mention(platform="x", external_id=f"ctx-{i}", author_id=f"a{i}", text=row.text,
                author_reach=25_000, created_at=now, brands=["acme"])
        for i, row in enumerate(rows)
    ]  # fmt: skip
    return enricher.enrich_batch(mentions)


def _page(scored: ScoredMention) -> object:
    m = scored.mention
    return critical_mention(
        ts=m.created_at,
        topics=scored.topics,
        author_reach=m.author_reach,
        engagement=m.engagement.total,
        config=PAGE_ALL,
    )


def test_corpus_is_large_and_multilingual() -> None:
    near = load_rows([DATA / "near_misses.csv"])
    crises = load_rows([DATA / "crises.csv"])
    assert len(near) >= 60 and len(crises) >= 40
    for rows in (near, crises):
        assert {"en", "es", "fr", "de", "it", "pt"} <= {r.language for r in rows}


def test_near_misses_raise_no_crisis_topic_nor_keyword_page(enricher: Enricher) -> None:
    rows = _raw_rows("near_misses.csv")
    scored = _enrich(enricher, [r for r, _ in rows])
    wrong = []
    known = 0
    for (row, raw), s in zip(rows, scored, strict=True):
        kept = set(s.topics) & CRISIS
        flagged = {t[1:] for t in raw if t.startswith("!")}
        if flagged:  # a known false positive: still raised (fixing it must update the row)
            known += 1
            if not flagged <= kept:
                wrong.append(f"known false positive no longer raised {flagged}: {row.text}")
            continue
        if kept != set(row.expected):
            wrong.append(f"{sorted(kept)} instead of {sorted(row.expected)}: {row.text}")
        if not row.expected and _page(s) is not None:
            wrong.append(f"keyword page: {row.text}")
    assert not wrong, "\n".join(wrong)
    # 136 of 953 with the context head: 42 of the 592 tune rows (113 before the head) and 94
    # of the 360 rows of held-out sets 11-15, which joined with it and stay out of its
    # training (tests/data/topic_context/README.md). A cap, so that marking rows as known
    # cannot stand in for fixing them.
    assert known <= 0.15 * len(rows)


def test_genuine_crises_keep_their_topic_and_page(enricher: Enricher) -> None:
    rows = _raw_rows("crises.csv")
    scored = _enrich(enricher, [r for r, _ in rows])
    wrong = []
    for (row, raw), s in zip(rows, scored, strict=True):
        kept = set(s.topics) & CRISIS
        missed = {t[1:] for t in raw if t.startswith("?")}
        if missed:  # a known miss: a report that laughs
            if missed & kept:
                wrong.append(f"known miss now kept {missed}: {row.text}")
            continue
        if not row.expected <= kept:
            wrong.append(f"kept {sorted(kept)}, expected {sorted(row.expected)}: {row.text}")
        elif _page(s) is None:
            wrong.append(f"no keyword page: {row.text}")
    assert not wrong, "\n".join(wrong)


def test_the_issues_examples(enricher: Enricher) -> None:
    texts = [
        "I died laughing at the new Acme ad",
        "sick burn from Acme lol",
        "Acme is killing it",
        "this game is a bomb",
        "the battery life is fire",
        "me muero de risa con Acme",
        "c'est une bombe",
        "das ist der Hammer",
        "è una bomba",
        "morri de rir",
    ]
    rows = [Row("en", t, frozenset(), "tune") for t in texts]
    for s in _enrich(enricher, rows):
        assert not set(s.topics) & CRISIS, s.mention.text


# -- the idiom list ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def lexicon() -> TopicLexicon:
    return TopicLexicon.load()


def test_an_idiom_hides_only_the_terms_inside_it(lexicon: TopicLexicon) -> None:
    assert lexicon.match("I died laughing", "en") == []
    # a real report beside an idiom keeps its topic
    assert lexicon.match("I died laughing until my Acme charger exploded", "en") == ["safety"]
    assert lexicon.match("Ich warte auf einen Rückruf vom Kundenservice", "de") == [
        "customer_service"
    ]
    assert "recall" in lexicon.match("Acme startet einen Rückruf der Kinderwagen", "de")


def test_idioms_apply_whatever_the_detected_language(lexicon: TopicLexicon) -> None:
    assert lexicon.match("je suis mort de rire", "en") == []
    assert lexicon.match("morto dal ridere", "es") == []


def test_a_pair_hides_its_words_near_the_cue_only(lexicon: TopicLexicon) -> None:
    assert lexicon.match("La batería de mi Acme murió", "es") == []
    assert lexicon.match("the battery on my phone died", "en") == []
    far = "the battery lasted all week until one day, sadly, a man died"
    assert lexicon.match(far, "en") == ["safety"]
    # a crisis term between cue and words still counts
    assert lexicon.match("the battery exploded and my phone died", "en") == ["safety"]


def test_a_pair_may_hide_the_words_before_its_cue(lexicon: TopicLexicon) -> None:
    assert lexicon.match("La demanda del Acme superó todas las expectativas", "es") == []
    assert lexicon.match("La demanda supera la oferta", "es") == []
    assert lexicon.match("Presentaron una demanda contra Acme", "es") == ["legal"]
    far = "La demanda contra Acme por el fraude de las baterías superó el millón"
    assert "legal" in lexicon.match(far, "es")  # the cue is too far from `demanda`


def test_laughter_markers() -> None:
    mask = IdiomMask.load()
    for text in ("killed me 😂", "so bad lol", "jajaja", "kkkkk", "mdr", "hahaha"):
        assert mask.laughs(TextTokens(text)), text
    for text in ("Acme support is scary good", "erschreckend gut", "terriblemente bueno"):
        assert mask.laughs(TextTokens(text)), text  # praise with a word of fear
    for text in ("lollipop", "it caught fire 😱", "Acme", "holanda", "scary, it exploded"):
        assert not mask.laughs(TextTokens(text)), text


def test_every_idiom_hides_a_topic_term() -> None:
    bare = TopicLexicon(topic_contract())
    mask = IdiomMask.load()
    terms = {
        token
        for spec in topic_contract().topics.values()
        for listed in spec.terms.values()
        for term in listed
        for token in tokenize(term.rstrip("*"))
    }
    dead = []
    for language, phrases in mask.phrases.items():
        for phrase in phrases:
            first, *rest = (part.strip() for part in phrase.split("~"))
            words = first[1:-1] if first.startswith("[") else (rest or [first])[-1]
            if bare.match(words.rstrip("*"), language):
                continue
            stem = tokenize(words.rstrip("*"))[-1]
            if words.endswith("*") and any(t.startswith(stem) for t in terms):
                continue  # `explos*` hides `explose`
            dead.append(f"{language}: {phrase}")
    assert not dead, "idioms that hide no topic term:\n" + "\n".join(dead)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("version: 1\nhumour: {words: [lol]}\nidioms: {english: [a b]}\n", "ISO 639-1"),
        ("version: 1\nhumour: {words: [lol]}\nidioms: {en: ['a ~ b ~ c']}\n", "cue ~ words"),
        ("version: 1\nhumour: {words: [lol]}\nidioms: {en: ['']}\n", "empty phrase"),
        ("version: 1\nidioms: {en: [a b]}\n", "humour"),
        ("version: 1\nhumour: {words: [lol]}\nidioms: {en: ['@#%']}\n", "no word characters"),
        ("idioms: [", "not valid YAML"),
    ],
)
def test_invalid_idiom_files_are_refused(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "idioms.yaml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(IdiomListError, match=message):
        IdiomMask.load(path)


# -- the context gate --------------------------------------------------------------------


def _score(label: str, score: float) -> SentimentScore:
    return SentimentScore(label=label, score=score, confidence=0.9, scorer="test")  # type: ignore[arg-type]


def test_gate_negative_or_near_neutral_supports() -> None:
    assert supports_crisis(_score("negative", -0.8), {})
    assert supports_crisis(_score("neutral", 0.1), {})
    assert supports_crisis(_score("positive", 0.15), {})  # factual reports score near zero


def test_gate_clearly_positive_does_not_unless_fearful() -> None:
    assert not supports_crisis(_score("positive", 0.9), {"joy": 0.9})
    assert supports_crisis(_score("positive", 0.9), {"fear": 0.6})


def test_gate_laughter_vetoes_unless_fearful() -> None:
    assert not supports_crisis(_score("negative", -0.9), {}, laughs=True)
    assert supports_crisis(_score("negative", -0.7), {"fear": 0.74}, laughs=True)


def test_gate_unscored_language_keeps_its_matches() -> None:
    assert supports_crisis(None, {})
    assert not supports_crisis(None, {}, laughs=True)


def test_gate_margins_are_settable() -> None:
    strict = ContextGate(max_score=-0.5, fear_at_least=0.9)
    assert not supports_crisis(_score("neutral", 0.0), {"fear": 0.6}, gate=strict)
    assert supports_crisis(_score("negative", -0.2), {}, gate=strict)


def test_near_misses_open_no_crisis_signal_in_the_engine(enricher: Enricher) -> None:
    rows = [r for r, raw in _raw_rows("near_misses.csv") if not any(t[0] == "!" for t in raw)]
    scored = _enrich(enricher, rows)
    bare = TopicLexicon(topic_contract())
    lexical = [
        s.model_copy(update={"topics": bare.match(s.mention.text, s.language)}) for s in scored
    ]

    def crisis_signals(items: list[ScoredMention]) -> list[str]:
        engine = DetectionEngine(EngineConfig())
        out = Decisions()
        for item in items:
            out.extend(engine.observe(item, wall_now=0))
        out.extend(engine.advance(wall_now=datetime.now(UTC).timestamp() + 3600))
        return [s.topic for s in out.signals if s.topic in CRISIS]

    # The bare lexicon would page on these posts (25k followers each); the service does not.
    assert crisis_signals(lexical)
    assert crisis_signals(scored) == []


# -- frames: topics hidden near a marker, or in a text that says the problem is fixed -------


def test_a_fiction_frame_hides_safety_near_its_marker_only(lexicon: TopicLexicon) -> None:
    assert lexicon.match("in the game the dragon burns the village", "en") == []
    # a game that crashes is a real complaint: the frame hides safety only
    assert lexicon.match("in the game it crashes every time", "en") == ["product_quality"]
    # a marker far from the crisis words tells nothing about them
    far = "Loved the trailer. Hours later my Acme charger caught fire on the desk and burned me"
    assert lexicon.match(far, "en") == ["safety"]


def test_a_problem_reported_fixed_hides_service_topics_unless_something_undoes_it(
    lexicon: TopicLexicon,
) -> None:
    assert (
        lexicon.match("my Acme kettle was defective, they replaced it within two days", "en") == []
    )
    assert lexicon.match("Meu fone veio com defeito mas a troca foi em 2 dias", "pt") == []
    # "again", "still", a negation: not fixed after all
    assert lexicon.match("they said it was fixed but it is broken again", "en") == [
        "product_quality"
    ]
    assert lexicon.match("o defeito ainda não foi resolvido", "pt") == ["product_quality"]
    # a relapse after the fix: a contrast after it, or "too", "también"...
    assert lexicon.match("Acme replaced it, but the new one is defective too", "en") == [
        "product_quality"
    ]
    assert lexicon.match("me lo cambiaron y el nuevo también está roto", "es") == [
        "product_quality"
    ]
    # a contrast before the fix is the problem it fixed
    assert lexicon.match("the kettle was defective but they replaced it within a day", "en") == []
    # never safety: a fire that was handled is still a fire
    assert lexicon.match("Acme heater caught fire, support fixed it in a day", "en") == ["safety"]


def test_jokes_on_ones_own_wallet_and_gifts_to_hospitals_hide_safety(
    lexicon: TopicLexicon,
) -> None:
    assert lexicon.match("these chips are a hazard to my diet", "en") == []
    assert lexicon.match("der Sale ist gefährlich für meinen Kontostand", "de") == []
    assert lexicon.match("Acme donates 200 tablets to the city hospital", "en") == []
    # six words on, the gift tells nothing: a donation after an accident is still one
    report = "Acme donated to the hospital after a worker was injured at the plant in a blast"
    assert lexicon.match(report, "en") == ["safety"]


def test_every_frame_names_crisis_topics_and_a_broken_frame_is_refused(tmp_path: Path) -> None:
    data = read_yaml_model(DEFAULT_PATH, IdiomFile, IdiomListError, "idiom list")
    assert {"fiction", "resolved"} <= set(data.frames)
    for frame in data.frames.values():
        assert set(frame.topics) <= CRISIS
    broken = tmp_path / "idioms.yaml"
    broken.write_text(
        "version: 1\nidioms: {}\nhumour: {words: [lol]}\n"
        "frames: {fiction: {topics: [safety], near: 99, markers: [trailer]}}\n"
    )
    with pytest.raises(IdiomListError, match="near"):
        IdiomMask.load(broken)


def test_the_topics_after_a_contrast_are_those_named_after_it(lexicon: TopicLexicon) -> None:
    assert lexicon.after_contrast("love the lineup but the stage caught fire", "en") == ["safety"]
    assert lexicon.after_contrast("my charger caught fire, but Acme was great", "en") == []
    text = "Le cuffie sono bellissime, peccato che si siano surriscaldate in treno"
    assert lexicon.after_contrast(text, "it") == ["product_quality"]
    # the contrast words are the mention's language's: French "ma" is "my", not Italian "but"
    assert lexicon.after_contrast("ma batterie a explosé hier", "fr") == []
    assert lexicon.after_contrast("no contrast here, it exploded", "en") == []
