"""The composition root: the aiohttp application factory (:mod:`server.app`), the command line and
its sub-commands (:mod:`server.cli`), and the settings (:mod:`server.config`). The one package that
may import every other; nothing imports it but the tests, the benchmarks and the entry points."""
