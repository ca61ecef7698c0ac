"""The Transformer (`transformer.py`) and its sizes and FLOP accounting (`sizes.py`)."""
