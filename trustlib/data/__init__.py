"""The extract and the cohort (layer 1: imports only the shared modules of ``trustlib/``).

Each module is pure functions over DataFrames unless stated; nothing here knows of the models,
the outputs or the run.

- ``reading``    reading an extract's files as exported, in bounded time and memory
- ``formats``    reading Stata, SPSS and Excel extracts as text tables
- ``extract``    an extract's files and its column map
- ``codebook``   the codebook and scale definitions in ``data/``
- ``contract``   reading raw tables and validating them against the codebook
- ``scales``     reverse-coding, scale scores, Cronbach's alpha, ICC(1) between clinics
- ``cohort``     aggregation to clinicians, exclusions, quadrants, the analysis table
- ``checks``     the checks a run makes on the extract before any notebook starts
- ``synth``      the calibrated synthetic cohort generator
- ``rehearsal``  the synthetic cohort written as the trial's export would come
"""
