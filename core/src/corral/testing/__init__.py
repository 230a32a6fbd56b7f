"""Test helpers shipped with the core for plugin authors: contract test suites to subclass."""
