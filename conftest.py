"""Site-specific fixtures and hooks for this repository's health suite (``checks/``).

The plugin (pytest_aide.plugin, loaded through its entry point) provides every fixture the shipped checks
use; add your own here, for example extra secrets to mask::

    def pytest_aide_secrets(config):
        return [os.environ.get("MY_VAULT_TOKEN", "")]
"""
