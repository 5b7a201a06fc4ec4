"""Pure domain core: decisions only, no I/O, no clock reads."""
