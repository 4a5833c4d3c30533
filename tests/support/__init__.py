"""What the tests share: databases, servers (real and in-process), waiting, and the fakes they talk to.

Test modules import from here, never from each other or from a conftest.
"""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
