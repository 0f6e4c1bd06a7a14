"""MusicVAE in JAX: note sequences, encodings, data pipeline and models.

Kept light on purpose: submodules (and music21, pretty_midi, TFDS) load only
when imported, e.g. `from trajvae.music.data.encodings import get_converter`.
"""
