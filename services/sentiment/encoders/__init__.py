"""Sentence encoders: texts in, fixed-size vectors out (the model tier and stories use them)."""
