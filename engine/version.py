"""Version numbers: the package's and the wire protocol's."""

__version__ = "0.1.0"
PROTOCOL_VERSION = 1
