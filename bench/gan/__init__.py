"""GAN building blocks: losses, penalties, architectures, remedies and variants."""
