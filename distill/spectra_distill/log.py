"""Logging for the `spectra-distill` CLI: one stderr handler on the package logger, levels from `--log-level`.

Modules log through ``logging.getLogger(__name__)``, so every record sits under the ``spectra_distill``
logger. Diagnostics (progress, "wrote ...", warnings, errors) go to stderr through that logger; what a command
produces for the caller (a JSON summary, a table, a report) goes to stdout through :func:`output`, so
``--quiet`` or ``--log-level error`` never swallows data a script pipes on.
"""

from __future__ import annotations

import logging
import sys

from tqdm import tqdm

PACKAGE_LOGGER = "spectra_distill"
LEVELS = ("debug", "info", "warning", "error")
DEFAULT_LEVEL = "info"


class _TqdmHandler(logging.Handler):
    """Writes through `tqdm.write` so a record never tears a progress bar, to the *current* `sys.stderr`."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:  # logging must never raise into the caller
            self.handleError(record)


class _Formatter(logging.Formatter):
    """INFO as the bare message; other levels prefixed (``warning: ...``); DEBUG also names the module."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info and record.levelno <= logging.DEBUG:
            message = f"{message}\n{self.formatException(record.exc_info)}"
        if record.levelno == logging.INFO:
            return message
        if record.levelno <= logging.DEBUG:
            return f"debug [{record.name}]: {message}"
        return f"{record.levelname.lower()}: {message}"


def configure_logging(level: str = DEFAULT_LEVEL) -> logging.Logger:
    """Set the package logger's level and give it exactly one stderr handler (idempotent across calls).

    Args:
        level: One of :data:`LEVELS` (case-insensitive).

    Returns:
        The ``spectra_distill`` logger.

    Raises:
        ValueError: an unknown level, naming the valid ones.
    """
    name = level.lower()
    if name not in LEVELS:
        raise ValueError(f"Unknown log level {level!r}; known: {', '.join(LEVELS)}")
    logger = logging.getLogger(PACKAGE_LOGGER)
    logger.setLevel(getattr(logging, name.upper()))
    if not any(isinstance(h, _TqdmHandler) for h in logger.handlers):
        handler = _TqdmHandler()
        handler.setFormatter(_Formatter())
        logger.addHandler(handler)
    return logger


def output(text: str) -> None:
    """Write a command's result (not a diagnostic) to stdout, newline-terminated."""
    sys.stdout.write(text if text.endswith("\n") else f"{text}\n")
    sys.stdout.flush()
