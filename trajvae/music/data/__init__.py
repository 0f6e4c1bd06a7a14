"""MusicVAE's data: note sequences, the melody/drums/trio encodings, the corpus, the TFDS builder and batch feeding."""
