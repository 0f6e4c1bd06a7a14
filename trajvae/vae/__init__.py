"""The Kingma & Welling (2014) variational auto-encoder."""
