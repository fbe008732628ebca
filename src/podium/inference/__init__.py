"""podium.inference: the inference side of the suite; backends that run a model, datasets, harnesses."""
