"""What a reader sees (layer 3: imports the shared modules, ``data`` and ``stats``).

- ``disclosure`` what of real data may be shared: cell suppression, no identifiers, ``private/``
- ``outputs``    a notebook's tables, figures and numbers below one results folder (the ``Writer``)
- ``describe``   participant flow, Table 1, reliabilities
- ``figures``    the paper's figures
- ``prose``      numbers in prose: placeholders filled from ``numbers.json``
- ``article``    the reproduction article, every number filled from ``numbers.json``
- ``typeset``    the article as a PDF (Typst)
- ``report``     the HTML report
- ``certificate`` the canonical run's certificate, and comparing a run with it
- ``site``       the run as one offline folder of pages
"""
