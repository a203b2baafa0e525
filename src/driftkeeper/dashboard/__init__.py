"""Looking back over a root's nights: records read into rows (``runs``), a self-contained HTML
dashboard (``page``) and the Prometheus textfile a monitoring system scrapes (``prom``).

Plotting and metrics libraries are imported inside the functions that use them, so importing
this package stays cheap.
"""

from .runs import Night, load_nights

__all__ = ["Night", "load_nights"]
