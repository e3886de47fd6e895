"""Chinese word segmentation with jieba, initialised once and quietly.

jieba builds its prefix dictionary (about a second) the first time it is used and logs
that at DEBUG to stderr; this module does it on request, with its logger silenced, so
importing the sentiment service stays cheap and its output stays clean.

`cut` is jieba's `lcut` (precise mode, HMM on) with one difference in cost only: jieba
cuts each run of Han characters and alphanumerics ("block") on its own, so the words of
a block are remembered. Clauses repeat across reviews (好吃, 送餐很快), and the keyword
extractor cuts the same text again with only hashtags and URLs blanked out.
"""

from __future__ import annotations

import functools
import logging
import threading
from typing import Any

_lock = threading.Lock()
_tokenizer: Any = None
_cut_block: Any = None  # jieba's own cut of one block (`Tokenizer.__cut_DAG`)
_BLOCKS: dict[str, tuple[str, ...]] = {}
BLOCK_MEMO_LIMIT = 20_000  # blocks remembered before the memo starts over


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


def _block_cutter() -> Any:
    """jieba's per-block cut, or None when this jieba version does not have it."""
    global _cut_block
    if _cut_block is None:
        _cut_block = getattr(jieba_tokenizer(), "_Tokenizer__cut_DAG", False)
    return _cut_block or None


def cut(text: str) -> tuple[str, ...]:
    """Cut `text` with jieba's precise mode, exactly as `lcut` (whitespace tokens kept)."""
    return _cut_cached(text)


def segment(text: str) -> list[str]:
    """Cut Chinese `text` into words (jieba precise mode), whitespace tokens dropped."""
    return [word for word in _cut_cached(text) if word.strip()]


@functools.lru_cache(maxsize=2048)
def _cut_cached(text: str) -> tuple[str, ...]:
    # The Chinese scorer, keywords and topics cut the same text in one batch: cut it once.
    cut_block = _block_cutter()
    if cut_block is None:
        return tuple(jieba_tokenizer().lcut(text))
    import jieba

    # `jieba.Tokenizer.cut` with cut_all=False and HMM=True, step for step.
    re_han, re_skip = jieba.re_han_default, jieba.re_skip_default
    words: list[str] = []
    for block in re_han.split(text):
        if not block:
            continue
        if re_han.match(block):
            found = _BLOCKS.get(block)
            if found is None:
                found = tuple(cut_block(block))
                if len(_BLOCKS) >= BLOCK_MEMO_LIMIT:
                    _BLOCKS.clear()
                _BLOCKS[block] = found
            words.extend(found)
        else:
            for part in re_skip.split(block):
                if re_skip.match(part):
                    words.append(part)
                else:
                    words.extend(part)  # one word per character
    return tuple(words)
