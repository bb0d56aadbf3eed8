"""trustlib: the helper library behind the 'Where Trust Flourishes' reproduction.

Its folders are its layers, each importing only from those below it (``tests/test_layers.py``
holds every import to this, and finds no cycle):

- ``trustlib/``          what every layer shares: the errors (here), ``paths``, ``params``,
  ``steps`` and ``store``
- ``trustlib/data/``     the extract and the cohort: reading, the contract, scoring, the generator
- ``trustlib/stats/``    the models and the studies built on them, and the scorecard's rules
- ``trustlib/publish/``  what a reader sees: tables, figures, disclosure control, report, article
- ``trustlib/run/``      the run: configuration, fingerprints, the scheduler, the transaction,
  the manifest, the command line (``python -m trustlib``)

Shared modules (each folder's ``__init__`` lists its own):

- ``paths``      every file location the project uses (the only module that builds paths)
- ``params``     reading the parameter files (YAML, bounded and safe); which parameters differ
  from ``params/pipeline.yml``
- ``steps``      the analysis steps, declared once: what each notebook reads and writes
- ``store``      files as the project writes and reads them: atomic writes, written precision, ``numbers.json``
"""

__version__ = "0.2.0"


class TrustlibError(Exception):
    """Base class for errors that carry a message meant for the user."""


class InputError(TrustlibError):
    """A problem with the data, the parameters or the command line (exit status 2): the user
    can fix it, and the message says where."""


class UsageError(InputError):
    """A command-line mistake (exit status 2)."""
