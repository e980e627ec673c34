"""The shipped checks, one module per part of the target. Selected by the daily/weekly/monthly/gate markers."""
