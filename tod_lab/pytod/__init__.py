"""PyTOD: dialogue state tracking by writing and executing (safely interpreted) programs.

``program`` parses model output into typed statements, ``interpreter`` runs them against
the schema-generic APIs of ``simulator``, ``gold`` writes gold programs from SGD
annotations, ``examples`` / ``prompts`` build the Action Parser and Parser Supervisor data,
``supervisors`` repair names, ``agent`` runs the online loop and ``system`` plugs all of it
into the pipeline (``system=pytod``).
"""
