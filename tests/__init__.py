"""The test suite (a package, so that its folders never shadow the product's: ``tests/console``
beside the top-level ``console``)."""
