"""A finished run's model for the Hugging Face `transformers` library (`plm-scaling export`, needs the `hf` extra).

- write.py: checks the run folder, converts the model, checks the conversion, writes the folder atomically;
- hf.py: the conversions, and our own transformers classes (importing it registers them with the Auto classes);
- card.py: the model card (README.md) beside the weights.
"""
