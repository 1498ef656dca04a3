"""The LMA load benchmark behind ``bench_lma.py`` (see that file's docstring), by job."""
