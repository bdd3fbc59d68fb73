"""The image layer: pixel containers and the PSF models that travel with them."""
