"""Training shortcut: the [CLS]-only last layer gives the logits of the full forward pass."""

from __future__ import annotations

import numpy as np
from transformers import AutoTokenizer

from services.sentiment.model.assemble import encoder_dir
from tools.train.encoder import cls_logits, encode_lower, fresh_model, model_logits

TEXTS = ["the kettle broke after a day", "love it", "meh, it is fine I guess, nothing special"]


def test_cls_shortcut_matches_the_full_forward_pass() -> None:
    model = fresh_model(3, ("negative", "neutral", "positive"), seed=0)
    model.eval()
    tokenizer = AutoTokenizer.from_pretrained(str(encoder_dir()))
    features = encode_lower(model, tokenizer, TEXTS, max_length=32)
    x, mask = features.batch(list(range(len(TEXTS))))
    short = cls_logits(model, x, mask).detach().numpy()
    full = model_logits(model, tokenizer, TEXTS, max_length=32)
    # The lower layers' outputs are kept in fp16, hence the tolerance.
    assert np.abs(short - full).max() < 1e-2
