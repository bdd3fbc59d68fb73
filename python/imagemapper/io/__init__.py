"""The I/O layer: file formats and data-model conversions.

``_fitslayout`` decides from the headers which HDUs hold the image, mask and
variance (one planner for every reader) and checks the file; ``_fitsread``
reads an exposure from a planned layout; ``_fitswrite`` writes and publishes
FITS files atomically, with checksums and provenance; ``_nddata`` converts to
and from astropy ``NDData``/``CCDData``; ``_output`` holds the atomic
publication, locks and resume records of out-of-core outputs;
``_psfrecords`` persists PSFs as table rows and kernel images.
"""
