"""One thin module per DVC stage; library code lives in ``simcity``, ``features`` and ``models``."""
