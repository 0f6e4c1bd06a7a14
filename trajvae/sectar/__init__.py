"""SeCTAR (Co-Reyes et al., ICML 2018): self-consistent trajectory autoencoder, in JAX.

envs: the authors' kinematic waypoint and block tasks as Brax environments.
model: trajectory encoder, state decoder, policy decoder (Flax NNX).
losses: the VAE + behaviour-cloning loss and the self-consistency reward.
ppo: PureJaxRL-style PPO, whole loop under jit, reward parameters traced.
planning: random-shooting / CEM model-predictive control over latent sequences.
"""
