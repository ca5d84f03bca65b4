"""Test harness: real processes on free ports, started and stopped by the tests themselves."""
