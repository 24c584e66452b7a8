"""bench: measure GAN variants on MNIST-like data."""

__version__ = "0.1.0"
