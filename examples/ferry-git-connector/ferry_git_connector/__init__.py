"""ferry-git-connector: a Ferry connector plugin that indexes a git repository's commits.

Installed, it registers the connector type ``git`` under the ``ferry.connectors``
entry point group (see this package's pyproject.toml).
"""

from .git import Commit, GitError
from .source import GitLogSource

__all__ = ["Commit", "GitError", "GitLogSource"]
