"""The HTML report of a results folder (``backdoor-curves report RESULTS_DIR``).

:func:`write_report` writes ``RESULTS_DIR/report.html``: the data source, commits, versions
and dates of the run folders (from their manifests), the comparison with the reference, the
key tables (sortable) and every figure with its caption; see ``docs/report.md``.
"""

from backdoor_curves.experiments.report.page import (
    REPORT_FILENAME,
    ReportContent,
    collect_report,
    render_report,
    write_report,
)

__all__ = ["REPORT_FILENAME", "ReportContent", "collect_report", "render_report", "write_report"]
