"""The shipped health suite: collected automatically in every aide run (see :mod:`pytest_aide.shipped`)."""
