"""Subcommands of `spectra-distill`, one module each."""
