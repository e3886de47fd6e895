"""Named entities read from a mention's text for story clustering."""

from __future__ import annotations

from services.sentiment.core.entities import extract_entities


def test_capitalised_words_inside_a_sentence_are_names() -> None:
    text = "Heavy flooding in Calgary and Canmore tonight. Stay safe"
    assert extract_entities(text) == ("calgary", "canmore")


def test_runs_of_names_are_one_entity_and_acronyms_count_at_a_sentence_start() -> None:
    assert extract_entities("Explosion at a plant in West Texas, say officials") == ("west texas",)
    assert extract_entities("LAX terminal closed after the shooting") == ("lax",)


def test_hashtags_and_handles_are_entities_and_links_are_not() -> None:
    text = "RT @CBCAlerts: evacuations in #yycflood area http://t.co/AbC"
    assert extract_entities(text) == ("#yycflood", "@cbcalerts")


def test_stopwords_of_every_lexicon_language_are_dropped_and_accents_folded() -> None:
    assert extract_entities("terremoto forte a Mirandola e Finale Emilia, ma La gente") == (
        "mirandola",
        "finale emilia",
    )
    assert extract_entities("incendio en la discoteca de Santa María, muy triste") == (
        "santa maria",
    )


def test_title_case_and_shouting_name_nothing_but_tags() -> None:
    assert extract_entities("Massive Flooding Hits The City #Manila") == ("#manila",)
    assert extract_entities("THE BATTERY IS ON FIRE") == ()


def test_at_most_limit_entities() -> None:
    text = "so " + " and ".join(f"Town{chr(97 + i)}" for i in range(20))
    assert len(extract_entities(text, limit=5)) == 5
