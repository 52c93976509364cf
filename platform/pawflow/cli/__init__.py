"""``paw``, the command line of Pawflow.

Start-up is kept fast: heavy modules (temporalio, aiohttp) are imported only by
the commands that need them, and the API client uses the standard library.
"""

from ._main import main
from ._parser import build_parser

__all__ = ["build_parser", "main"]
