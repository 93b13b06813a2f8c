"""emovox: speech emotion recognition from corpus to live predictions, on a plain CPU."""

__version__ = "0.1.0"
