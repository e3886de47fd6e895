"""Chinese word segmentation with jieba, initialised once and quietly.

jieba builds its prefix dictionary (about a second) the first time it is used and logs
that at DEBUG to stderr; this module does it on request, with its logger silenced, so
importing the sentiment service stays cheap and its output stays clean.
"""

from __future__ import annotations

import functools
import logging
import threading
from typing import Any

_lock = threading.Lock()
_tokenizer: Any = None


def jieba_tokenizer() -> Any:
    """Return jieba's shared tokenizer, initialised (dictionary loaded) and quiet."""
    global _tokenizer
    if _tokenizer is None:
        with _lock:
            if _tokenizer is None:
                import jieba

                jieba.setLogLevel(logging.WARNING)
                logging.getLogger("jieba").setLevel(logging.WARNING)
                jieba.dt.initialize()
                _tokenizer = jieba.dt
    return _tokenizer


def cut(text: str) -> tuple[str, ...]:
    """Cut `text` with jieba's precise mode, exactly as `lcut` (whitespace tokens kept)."""
    return _cut_cached(text)


def segment(text: str) -> list[str]:
    """Cut Chinese `text` into words (jieba precise mode), whitespace tokens dropped."""
    return [word for word in _cut_cached(text) if word.strip()]


@functools.lru_cache(maxsize=2048)
def _cut_cached(text: str) -> tuple[str, ...]:
    # The Chinese scorer, keywords and topics cut the same text in one batch: cut it once.
    return tuple(jieba_tokenizer().lcut(text))
