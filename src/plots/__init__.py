"""Figures from the result tables: the plotting step, separate from the experiments.

Run as ``python -m backdoor_curves.plots RESULTS_DIR [--only KIND] [--format pdf png]
[--out DIR]``. The step reads the tidy CSV tables that the experiment drivers wrote under
``RESULTS_DIR`` and never recomputes an experiment: every plotted number is a table value, a
mean over seeds of table values, or a rank correlation of table columns. Figures are written,
as PDF and PNG, to ``RESULTS_DIR/figures/`` (or ``--out``).

Modules, one per figure family plus what they share:

- :mod:`~backdoor_curves.plots.slope`: ``slope/**/results.csv`` -> F3/F5 accuracy vs
  normalised slope ``slope_<dataset>_<pair>_<trigger>`` and one overview per dataset and
  trigger ``slope_overview_<dataset>_<trigger>``;
- :mod:`~backdoor_curves.plots.heatmap`: the same tables -> F4 kernel-model heat maps
  ``rbf_heatmap_<dataset>_<pair>_<trigger>``;
- :mod:`~backdoor_curves.plots.curves`: ``curves/**/results.csv`` -> F2
  ``curves_<dataset>_<pair>_<model>``;
- :mod:`~backdoor_curves.plots.deviation`: ``deviation/**/results.csv`` -> F6
  ``deviation_<dataset>_<pair>``;
- :mod:`~backdoor_curves.plots.explanations`: ``explanations/**/results.csv`` -> the
  explanation summary ``explanation_shares_<dataset>_<pair>_<trigger>`` (F7 is drawn by the
  explanation scripts from their examples files);
- :mod:`~backdoor_curves.plots.network`: F8 from a network run's ``results.csv`` and
  ``head_slope.csv`` (drawn by the network driver, or ``python -m backdoor_curves.plots.network``);
- :mod:`~backdoor_curves.plots.triggers`: clean and triggered example images (drawn from
  images, not tables);
- :mod:`~backdoor_curves.plots.style` (one style, atomic PDF/PNG save),
  :mod:`~backdoor_curves.plots.layout` (panels placed by hand, without a layout engine),
  :mod:`~backdoor_curves.plots.tables` (reading and labelling tables),
  :mod:`~backdoor_curves.plots.registry` (table kind -> plotters),
  :mod:`~backdoor_curves.plots.figures` (draw every registered figure),
  :mod:`~backdoor_curves.plots.cli` (the command line).

A stem gains a ``_<trigger>`` part (curves, deviation) or a ``_p<p>`` part (slope figures) only
when the table holds several triggers or poison fractions for it, so that no figure overwrites
another. Model and trigger names come from :mod:`backdoor_curves.naming`: a model the figures
have never seen is drawn under a readable default label.

A new figure family is a module whose plotters are decorated with :func:`register_figures`
(declaring its table kind and required columns), imported below (see ``docs/architecture.md``).

Matplotlib is used headless: figures are ``matplotlib.figure.Figure`` objects on an Agg canvas
(never registered with pyplot), styled inside ``matplotlib.rc_context``. Importing this package
registers the families and changes no global matplotlib state.
"""

from backdoor_curves.plots.cli import build_parser, main
from backdoor_curves.plots.curves import CURVES_COLUMNS, plot_curve_figures, tangent_beta_range
from backdoor_curves.plots.deviation import DEVIATION_COLUMNS, plot_deviation_figures
from backdoor_curves.plots.explanations import EXPLANATION_COLUMNS, plot_explanation_shares
from backdoor_curves.plots.figures import draw_figures, make_figures
from backdoor_curves.plots.heatmap import plot_rbf_heatmaps
from backdoor_curves.plots.registry import (
    plotters,
    register_figures,
    required_columns,
    table_kinds,
)
from backdoor_curves.plots.slope import SLOPE_COLUMNS, plot_slope_figures, plot_slope_overview
from backdoor_curves.plots.style import FORMATS, STYLE, figure_style, new_figure, save_figure
from backdoor_curves.plots.tables import (
    load_requested_tables,
    load_tables,
    read_table,
    with_labels,
)
from backdoor_curves.plots.triggers import plot_trigger_examples

__all__ = [
    "CURVES_COLUMNS",
    "DEVIATION_COLUMNS",
    "EXPLANATION_COLUMNS",
    "FORMATS",
    "SLOPE_COLUMNS",
    "STYLE",
    "build_parser",
    "draw_figures",
    "figure_style",
    "load_requested_tables",
    "load_tables",
    "main",
    "make_figures",
    "new_figure",
    "plot_curve_figures",
    "plot_deviation_figures",
    "plot_explanation_shares",
    "plot_rbf_heatmaps",
    "plot_slope_figures",
    "plot_slope_overview",
    "plot_trigger_examples",
    "plotters",
    "read_table",
    "register_figures",
    "required_columns",
    "save_figure",
    "table_kinds",
    "tangent_beta_range",
    "with_labels",
]
