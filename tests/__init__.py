"""cvspec tests: a package, so that tests.helpers imports under plain pytest."""
