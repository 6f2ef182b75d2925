"""The built-in DNAS gateway: recorded answers over the old SSL the consoles speak (issue 14).

Entry points for the engine: ``DnasSettings`` (the ``[dnas]`` table), ``DnasGateway.load`` and
``serve_dnas``; events ``DnasRequest`` and ``DnasRefused`` for the doctor and the TUI.
"""
