import sys

from .cli import pmip6d_main

sys.exit(pmip6d_main())
