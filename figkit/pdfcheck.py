"""Deprecated: the PDF font and page-size check is ``figkit.lint.check_pdf_fonts`` (removed in figkit 0.3)."""

import warnings

from figkit.lint import check_pdf_fonts as check_pdf  # noqa: F401

warnings.warn(
    "figkit.pdfcheck.check_pdf moved to figkit.lint.check_pdf_fonts; the old name goes in figkit 0.3",
    DeprecationWarning,
    stacklevel=2,
)
