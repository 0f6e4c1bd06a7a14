"""trajvae: latent-variable models of sequences and trajectories in JAX/Flax."""

__version__ = "0.1.0"
