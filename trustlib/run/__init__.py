"""The run (layer 4, the top: may import every layer below it).

- ``config``     the run's configuration: every analysis choice, typed and checked once
- ``fingerprint`` what each step reads, by content (decides which steps run again)
- ``transaction`` lock, stage and atomic exchange of the results folder
- ``scheduler``  executing (or carrying) the steps, two notebooks at a time
- ``manifest``   ``manifest.json``: inputs, outputs and how each step was made
- ``releases``   the private register of earlier releases on raw data
- ``pipeline``   the one orchestrator: an all-or-nothing run of the steps
- ``cli``        the command line, ``python -m trustlib``
- ``environment`` reading the pinned lock (keeps ``environment.yml`` in step)
"""
