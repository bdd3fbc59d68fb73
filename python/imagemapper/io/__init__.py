"""The I/O layer: file formats and data-model conversions (FITS, PSF records)."""
