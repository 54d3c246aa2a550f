"""Errors raised by zerog-devnet.

Every error is a :class:`DevnetError` whose message is one line that says what to do::

    DevnetError
    ├── NodeModulesMissing   the npm packages (anvil, 0G SDK, OpenZeppelin) are not installed
    ├── AnvilNotFound        node_modules exists but holds no anvil binary for this platform
    ├── AnvilStartError      anvil exited or never answered on its port
    ├── PortInUse            a requested port is already taken
    ├── DeploymentError      a contract deployment or set-up transaction failed
    └── ConfigError          bad input to Devnet.start() or the CLI
"""

from __future__ import annotations


class DevnetError(Exception):
    """Root of all devnet errors."""


class NodeModulesMissing(DevnetError):
    """The npm packages the devnet reads at run time are not installed."""


class AnvilNotFound(DevnetError):
    """No anvil binary could be found."""


class AnvilStartError(DevnetError):
    """anvil did not start or did not answer."""


class PortInUse(DevnetError):
    """A requested TCP port is already taken."""


class DeploymentError(DevnetError):
    """A deployment or set-up transaction failed."""


class ConfigError(DevnetError, ValueError):
    """Bad devnet configuration."""
