"""Tests of the fake provider CLIs in tests/fakes."""
