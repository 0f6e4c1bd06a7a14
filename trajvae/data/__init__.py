"""Datasets and batching shared by the models."""
