"""The LOOP training loop: collect -> reject -> update -> evaluate -> checkpoint, from sim or from a buffer."""
