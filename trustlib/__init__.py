"""trustlib: the helper library behind the 'Where Trust Flourishes' reproduction.

Modules (each small, each pure functions over DataFrames unless stated):

- ``paths``      every file location the project uses (the only module that builds paths)
- ``params``     reading the parameter files (YAML, bounded and safe)
- ``config``     the run's configuration: every analysis choice, typed and checked once
- ``codebook``   the codebook and scale definitions in ``data/``
- ``contract``   reading raw tables and validating them against the codebook
- ``formats``    reading Stata, SPSS and Excel extracts as text tables
- ``synth``      the calibrated synthetic cohort generator
- ``scales``     reverse-coding, scale scores, Cronbach's alpha, ICC(1) between clinics
- ``cohort``     aggregation to clinicians, exclusions, quadrants, the analysis table
- ``glmm``       maximum-likelihood random-intercept logistic regression (adaptive Gauss-Hermite)
- ``gee``        exchangeable logistic GEE, vectorised across clusters
- ``estimators`` the estimator registry (GLMM, GEE, bias-reduced GEE, clustered logistic)
- ``models``     per-measure model fits as tidy tables
- ``checks``     the checks a run makes on the extract before any notebook starts
- ``describe``   participant flow, Table 1, reliabilities
- ``disclosure`` what of real data may be shared: cell suppression, no identifiers, ``private/``
- ``figures``    the paper's figures
- ``scorecard``  published versus reproduced numbers
- ``calibration`` how often unselected synthetic cohorts meet the scorecard's targets
- ``store``      files as the project writes and reads them: atomic writes, written precision, ``numbers.json``
- ``outputs``    a notebook's tables, figures and numbers below one results folder (the ``Writer``)
- ``steps``      the analysis steps, declared once: what each notebook reads and writes
- ``fingerprint`` what each step reads, by content (decides which steps run again)
- ``transaction`` lock, stage and atomic exchange of the results folder
- ``scheduler``  executing (or carrying) the steps, two notebooks at a time
- ``manifest``   ``manifest.json``: inputs, outputs and how each step was made
- ``pipeline``   the one orchestrator: an all-or-nothing run of the steps
- ``parallel``   running independent tasks on joblib workers or a Dask cluster
- ``robustness`` specification curve and leave-one-clinic-out influence
- ``simulation`` parametric-bootstrap check of the estimators
- ``report``     the HTML report
- ``prose``      numbers in prose: placeholders filled from ``numbers.json``
- ``article``    the reproduction article, every number filled from ``numbers.json``
- ``typeset``    the article as a PDF (Typst)
- ``environment`` reading the pinned lock (keeps ``environment.yml`` in step)
"""

__version__ = "0.2.0"


class TrustlibError(Exception):
    """Base class for errors that carry a message meant for the user."""


class InputError(TrustlibError):
    """A problem with the data, the parameters or the command line (exit status 2): the user
    can fix it, and the message says where."""


class UsageError(InputError):
    """A command-line mistake (exit status 2)."""
