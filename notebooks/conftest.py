"""pytest (nbmake) runs every notebook in smoke mode: tiny sizes, offline, CPU."""

import os

os.environ.setdefault("HELPERS_SMOKE", "1")
