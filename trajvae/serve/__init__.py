"""A local web explorer for trained runs: `trajvae serve --workdir RUN` (see trajvae.serve.app)."""

from trajvae.serve.app import ServeError, create_app, serve

__all__ = ["ServeError", "create_app", "serve"]
