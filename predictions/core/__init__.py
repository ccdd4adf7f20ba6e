"""Plain Python, no Django: ticks and tick files, simulator, features, labels, scorers,
training, evaluation and the model card."""
