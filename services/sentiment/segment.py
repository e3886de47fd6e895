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


def segment(text: str) -> list[str]:
    """Cut Chinese `text` into words (jieba precise mode), whitespace tokens dropped."""
    return list(_segment_cached(text))


@functools.lru_cache(maxsize=2048)
def _segment_cached(text: str) -> tuple[str, ...]:
    # Sentiment, keywords and topics segment the same text in one batch: cut it once.
    return tuple(word for word in jieba_tokenizer().lcut(text) if word.strip())
