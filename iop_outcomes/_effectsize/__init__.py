"""Within-group (pre–post) standardized mean change and bootstrap confidence intervals.

Three public functions:

* :func:`rm_d` — standardized mean change from episode-level data (one row per
  episode with a pre and a post score), in the four common variants
  (``d_z``, ``d_rm``, ``d_av``, ``d_b``), with Hedges' small-sample correction,
  an analytic CI by each variant's published variance formula or a bootstrap
  (BCa / percentile) CI, per group.
* :func:`rm_d_from_summary` — the same indices recomputed from published
  summaries (means, SDs, n, and r or the SD of change when reported).
* :func:`bootstrap_ci` — seeded percentile and BCa bootstrap intervals for any
  statistic of an episode table, optionally resampling clusters (sites).

All quantities follow ``/work/shared/DOMAIN.md`` ("Effect sizes for pre–post
designs") and are checked against metafor 3.8-1 and effectsize 0.8.3 in
``tests/reference/effectsize/``. Submodules: :mod:`.formulas` (variants and variances),
:mod:`.resample` (the bootstrap engine), :mod:`.repeated` (``rm_d``), :mod:`.summary`
(``rm_d_from_summary``), :mod:`.bootstrap` (``bootstrap_ci``).
"""

from .bootstrap import bootstrap_ci
from .repeated import rm_d
from .summary import rm_d_from_summary

__all__ = ["rm_d", "rm_d_from_summary", "bootstrap_ci"]
