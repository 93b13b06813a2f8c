"""Recipes that use every layer: train the model an experiment describes and save it as a model
directory (`train`)."""
