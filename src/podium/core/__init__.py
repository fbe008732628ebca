"""podium.core: the bottom layer — errors and small shared pieces every other layer may import."""
