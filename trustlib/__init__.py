"""trustlib: the helper library behind the 'Where Trust Flourishes' reproduction.

Modules (each small, each pure functions over DataFrames unless stated):

- ``paths``      every file location the project uses (the only module that builds paths)
- ``params``     loading the pipeline and generator parameter files
- ``codebook``   the codebook and scale definitions in ``data/``
- ``contract``   reading raw tables and validating them against the codebook
- ``formats``    reading Stata, SPSS and Excel extracts as text tables
- ``synth``      the calibrated synthetic cohort generator
- ``scales``     reverse-coding, scale scores, Cronbach's alpha
- ``cohort``     aggregation to clinicians, exclusions, quadrants, the analysis table
- ``glmm``       maximum-likelihood random-intercept logistic regression (adaptive Gauss-Hermite)
- ``models``     per-measure model fits (GLMM, GEE, clustered logistic) as tidy tables
- ``describe``   participant flow, Table 1, reliabilities
- ``disclosure`` what of real data may be shared: cell suppression, no identifiers, ``private/``
- ``figures``    the paper's figures
- ``scorecard``  published versus reproduced numbers
- ``calibration`` how often unselected synthetic cohorts meet the scorecard's targets
- ``outputs``    atomic writing of tables, figures and ``numbers.json`` below one results folder
- ``pipeline``   the one orchestrator: an all-or-nothing papermill run, fingerprint, manifest
- ``parallel``   running independent tasks on joblib workers or a Dask cluster
- ``robustness`` specification curve and leave-one-clinic-out influence
- ``simulation`` parametric-bootstrap check of the estimators
- ``report``     the HTML report
- ``article``    the reproduction article, every number filled from ``numbers.json``
- ``environment`` reading the pinned lock (keeps ``environment.yml`` in step)
"""

__version__ = "0.1.0"


class TrustlibError(Exception):
    """Base class for errors that carry a message meant for the user."""
